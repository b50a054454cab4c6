"""How a Postmark answer is classified, as data (SPEC §5).

Classes:
    TRANSIENT      try again later with backoff (429, 500, 503, ErrorCode 100, refused connection).
    AMBIGUOUS      the request may have been processed (timeout / reset after it was written):
                   search by ``tm_job`` metadata before any retry.
    RECIPIENT      the recipient is the problem (406 inactive, 300 invalid request): the job fails.
    CONFIGURATION  the tenant's Postmark setup is the problem: the job waits, the configuration's
                   failure counter rises.
    PERMANENT      anything else the request itself caused; retrying cannot help.
"""

from __future__ import annotations

from enum import StrEnum


class SendErrorClass(StrEnum):
    TRANSIENT = "transient"  #: retry with backoff
    AMBIGUOUS = "ambiguous"  #: may have been sent; reconcile first
    RECIPIENT = "recipient"  #: recipient-caused; fail the job
    CONFIGURATION = "configuration"  #: tenant setup-caused; hold the job, count the failure
    PERMANENT = "permanent"  #: request-caused; fail, never retry


TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset({100})  # "Maintenance"
INACTIVE_RECIPIENT_CODE = 406
INVALID_REQUEST_CODE = 300
RECIPIENT_CODES = frozenset({INACTIVE_RECIPIENT_CODE, INVALID_REQUEST_CODE})
# 10 bad token, 400 sender signature not found, 401 signature not confirmed, 405 account out of
# credits, 412 account pending approval, 413 recipient domain not approved (sandbox-mode account).
CONFIGURATION_CODES = frozenset({10, 400, 401, 405, 412, 413})
# "not found" codes of the resources we manage (postmark-api.md §5.2): 12 generic (webhooks have no
# code of their own), 501 signature, 510 domain, 601 server, 701 message, 1001 bounce.
# Compensation and removal treat them, and HTTP 404, as "already gone".
NOT_FOUND_CODES = frozenset({12, 501, 510, 601, 701, 1001})


def is_not_found(http_status: int | None, error_code: int | None) -> bool:
    return http_status == 404 or error_code in NOT_FOUND_CODES


def classify(http_status: int | None, error_code: int | None) -> SendErrorClass:
    """Classify an answer that was received (``http_status`` known) or not (``None``: no answer).

    A missing answer is never classified here: the transport decides between TRANSIENT (the
    request never left) and AMBIGUOUS (it may have been processed).
    """
    if error_code in TRANSIENT_CODES or http_status in TRANSIENT_HTTP_STATUSES:
        return SendErrorClass.TRANSIENT
    if error_code in CONFIGURATION_CODES:
        return SendErrorClass.CONFIGURATION
    if error_code in RECIPIENT_CODES:
        return SendErrorClass.RECIPIENT
    return SendErrorClass.PERMANENT
