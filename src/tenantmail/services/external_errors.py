"""What a service needs to know about a failed Postmark or DNS call, read off the exception.

Postmark's calls fail with the port's :class:`~tenantmail.services.ports.postmark.PostmarkError`
(the adapter's tree subclasses it); anything else (a DNS failure, a bug) answers "not Postmark's
answer" to each question here.
"""

from __future__ import annotations

from tenantmail.domain.send_errors import SendErrorClass
from tenantmail.services.ports.postmark import PostmarkError

#: Postmark answers a server-token call with 10 once the server (and so its webhooks) is deleted.
INVALID_SERVER_TOKEN = 10


def was_answered(exc: BaseException) -> bool:
    """Postmark answered with an error: the request was refused, so nothing was created."""
    return isinstance(exc, PostmarkError) and exc.http_status is not None


def error_code_of(exc: BaseException) -> str:
    """A short code for ``lastError.code``: Postmark's ErrorCode, else the HTTP status, else the type."""
    if isinstance(exc, PostmarkError) and exc.error_code is not None:
        return str(exc.error_code)
    if isinstance(exc, PostmarkError) and exc.http_status is not None:
        return f"http_{exc.http_status}"
    return type(exc).__name__


def message_of(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, PostmarkError) else str(exc)
    return (text or type(exc).__name__)[:500]


def is_gone(exc: BaseException) -> bool:
    """The resource no longer exists (404 or a not-found ErrorCode): a deletion may count it done."""
    return isinstance(exc, PostmarkError) and exc.is_not_found


def has_error_code(exc: BaseException, *codes: int) -> bool:
    return isinstance(exc, PostmarkError) and exc.error_code in codes


def is_retryable(exc: BaseException) -> bool:
    """Postmark was busy or unreachable (transient / ambiguous): the same call may work later."""
    return isinstance(exc, PostmarkError) and exc.error_class in (SendErrorClass.TRANSIENT, SendErrorClass.AMBIGUOUS)
