"""Every way a Postmark call can fail, as one exception tree (SPEC §5).

Hierarchy::

    PostmarkError                     any failed call: http_status, error_code, message
    ├── PostmarkTransientError        try later (429, 500, 503, ErrorCode 100, no connection)
    ├── PostmarkAmbiguousError        may have been processed (no answer after sending)
    ├── PostmarkRecipientError        the recipient is the problem (406 inactive, 300 invalid)
    ├── PostmarkConfigurationError    the tenant's Postmark setup (10, 400, 401, 405, 412, 413)
    └── PostmarkPermanentError        anything else the request caused; retrying cannot help
        └── PostmarkUnexpectedResponseError
                                      not Postmark's JSON (e.g. an HTML 403 from a network
                                      block in front of the API, or an unknown body shape)

``PostmarkError`` itself is declared with the port (``services/ports/postmark.py``), so services
name it without importing adapters. Services catch ``PostmarkError`` and branch on ``error.error_class`` (a ``SendErrorClass``) and
``error.is_not_found``; the subclasses exist so ``except`` clauses can be narrow where that reads
better. Which class an answer gets is data in ``tenantmail.domain.send_errors``.

A token never appears in any message or repr: messages are built from Postmark's ``Message`` text
and our own wording only.
"""

from __future__ import annotations

import httpx

from tenantmail.domain.send_errors import SendErrorClass, classify
from tenantmail.services.ports.postmark import PostmarkError


class PostmarkTransientError(PostmarkError):
    """Postmark is busy or unreachable, and the request was certainly not processed: retry later."""

    error_class = SendErrorClass.TRANSIENT


class PostmarkAmbiguousError(PostmarkError):
    """The request was sent but no answer came back: it may have been processed. Reconcile first."""

    error_class = SendErrorClass.AMBIGUOUS


class PostmarkRecipientError(PostmarkError):
    """The recipient (or the request's addresses and content) is refused: the job fails."""

    error_class = SendErrorClass.RECIPIENT


class PostmarkConfigurationError(PostmarkError):
    """The tenant's Postmark setup (token, signature, account state) is refused: hold the job."""

    error_class = SendErrorClass.CONFIGURATION


class PostmarkPermanentError(PostmarkError):
    """The request itself is refused; sending it again unchanged cannot succeed."""

    error_class = SendErrorClass.PERMANENT


class PostmarkUnexpectedResponseError(PostmarkPermanentError):
    """The answer is not Postmark's JSON: typically an HTML 403 from a network block, or a body
    whose shape we do not understand."""


_CLASS_FOR: dict[SendErrorClass, type[PostmarkError]] = {
    SendErrorClass.TRANSIENT: PostmarkTransientError,
    SendErrorClass.AMBIGUOUS: PostmarkAmbiguousError,
    SendErrorClass.RECIPIENT: PostmarkRecipientError,
    SendErrorClass.CONFIGURATION: PostmarkConfigurationError,
    SendErrorClass.PERMANENT: PostmarkPermanentError,
}


def error_for_answer(http_status: int, error_code: int | None, message: str) -> PostmarkError:
    """The exception for a Postmark JSON error answer, classified by ``domain.send_errors``."""
    error_type = _CLASS_FOR[classify(http_status, error_code)]
    return error_type(message, http_status=http_status, error_code=error_code)


def error_for_unreadable_answer(http_status: int, reason: str) -> PostmarkError:
    """The exception for an answer without a usable Postmark body.

    A 5xx/429 from a proxy is still "try later"; anything else (the HTML 403 of a network block
    above all) gets its own class so an operator sees it is not an error Postmark produced.
    """
    if classify(http_status, None) is SendErrorClass.TRANSIENT:
        return PostmarkTransientError(reason, http_status=http_status)
    return PostmarkUnexpectedResponseError(reason, http_status=http_status)


# Raised before a single byte of the request could reach Postmark.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


def error_for_transport(exc: httpx.TransportError, *, idempotent: bool) -> PostmarkError:
    """Classify a request that got no answer.

    A connection that was never made is transient. Once the request may have been written (read
    timeout, reset, server hung up), a non-idempotent call (a send, a create) may have been
    processed, so it is ambiguous; an idempotent call can simply be repeated, so it is transient.
    """
    reason = f"no answer from Postmark: {type(exc).__name__}"
    if isinstance(exc, _NEVER_SENT) or idempotent:
        return PostmarkTransientError(reason)
    return PostmarkAmbiguousError(reason)
