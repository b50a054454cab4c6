"""What a service needs to know about a failed Postmark or DNS call, read off the exception.

Services may not import adapters, so they read the attributes the ports document
(``PostmarkError.http_status`` / ``.error_code`` / ``.message``) instead of catching adapter types.
"""

from __future__ import annotations

from tenantmail.domain.send_errors import SendErrorClass, is_not_found

#: Postmark answers a server-token call with 10 once the server (and so its webhooks) is deleted.
INVALID_SERVER_TOKEN = 10


def was_answered(exc: BaseException) -> bool:
    """Postmark answered with an error: the request was refused, so nothing was created."""
    return getattr(exc, "http_status", None) is not None


def error_code_of(exc: BaseException) -> str:
    """A short code for ``lastError.code``: Postmark's ErrorCode, else the HTTP status, else the type."""
    code = getattr(exc, "error_code", None)
    if code is not None:
        return str(code)
    status = getattr(exc, "http_status", None)
    return f"http_{status}" if status is not None else type(exc).__name__


def message_of(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc or type(exc).__name__)[:500]


def is_gone(exc: BaseException) -> bool:
    """The resource no longer exists (404 or a not-found ErrorCode): a deletion may count it done."""
    return is_not_found(getattr(exc, "http_status", None), getattr(exc, "error_code", None))


def has_error_code(exc: BaseException, *codes: int) -> bool:
    return getattr(exc, "error_code", None) in codes


def is_retryable(exc: BaseException) -> bool:
    """Postmark was busy or unreachable (transient / ambiguous): the same call may work later."""
    return getattr(exc, "error_class", None) in (SendErrorClass.TRANSIENT, SendErrorClass.AMBIGUOUS)
