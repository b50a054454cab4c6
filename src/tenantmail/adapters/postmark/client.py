"""The Postmark HTTP API over one shared ``httpx.AsyncClient`` (implements ``PostmarkGateway``).

Rules this module keeps (postmark-api.md §1, §4, §5; SPEC §5):

* No hidden retries. A send that got no answer may have been processed; only the caller, after
  searching by ``tm_job`` metadata, may send again. So nothing here retries anything.
* The body is read on every status: ``ErrorCode`` 0 is success (a send says ``"OK"``), anything
  else becomes a classified ``PostmarkError``; a body that is not Postmark's JSON (an HTML 403 from
  a network block) becomes ``PostmarkUnexpectedResponseError``.
* Tokens travel only in their header. They are never logged, nor put in a message or repr.
* One connection pool for the process: ``server(token)`` returns a light view sharing it, so the
  send hot path never builds a client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import httpx

from tenantmail import __version__
from tenantmail.adapters.postmark import payloads
from tenantmail.adapters.postmark.errors import (
    PostmarkAmbiguousError,
    PostmarkConfigurationError,
    PostmarkPermanentError,
    PostmarkUnexpectedResponseError,
    error_for_answer,
    error_for_transport,
    error_for_unreadable_answer,
)
from tenantmail.services.ports import (
    DeliveryStats,
    MessageStream,
    OutboundEmail,
    OutboundMessageDetails,
    OutboundMessageSummary,
    PostmarkBounce,
    PostmarkDomain,
    PostmarkServer,
    PostmarkServerDetails,
    PostmarkServerEdit,
    PostmarkSignature,
    PostmarkSuppression,
    PostmarkWebhook,
    SendOutcome,
)

ACCOUNT_TOKEN_HEADER = "X-Postmark-Account-Token"
SERVER_TOKEN_HEADER = "X-Postmark-Server-Token"
PAGE_SIZE = 500  #: the largest ``count`` the list endpoints accept (§3.1)
MAX_WINDOW = 10_000  #: the deepest ``count + offset`` Postmark's searches serve (§8.1, §9)
SUPPRESSION_CHUNK = 50  #: suppressions create/delete take at most 50 addresses per call (§8.2)
_IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})

T = TypeVar("T")


class _Session:
    """One authenticated conversation style: a token header over the shared ``AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, header: str, token: str):
        self._http = http
        self._header = header
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r}, token=<hidden>)"

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON, or raise a classified ``PostmarkError``."""
        headers = {self._header: self._token}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        try:
            response = await self._http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            safe = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
            raise error_for_transport(exc, idempotent=safe) from exc
        return _decode(response)

    async def pages(
        self, path: str, convert: Callable[[Any], T], params: Mapping[str, Any] | None = None,
        *, window: int | None = None,
    ) -> list[T]:
        """Every item of a ``count``/``offset`` list endpoint, converted (``convert`` reads one
        page's items, see ``_listed``); a search with a ``window`` (count + offset cap) stops there."""
        items: list[T] = []
        limit = window or float("inf")
        while True:
            count = int(min(PAGE_SIZE, limit - len(items)))
            query = {**(params or {}), "count": count, "offset": len(items)}
            page = await self.call("GET", path, params=query)
            batch = _mapped(convert, page)
            items.extend(batch)
            if not batch or len(items) >= min(int(page.get("TotalCount", 0)), limit):
                return items


def _decode(response: httpx.Response) -> Any:
    """Postmark's answer on any status: the JSON body on success, else the matching exception."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise error_for_unreadable_answer(
            status, f"HTTP {status} without a Postmark JSON body ({kind})"
        ) from None
    code = body.get("ErrorCode") if isinstance(body, dict) else None
    if status < 400 and not code:
        return body
    if not isinstance(body, dict):
        raise error_for_unreadable_answer(
            status, f"HTTP {status} with a JSON body that is not an object"
        )
    # Postmark's 500 carries only a Message; the class then follows from the HTTP status alone.
    raise error_for_answer(
        status, None if code is None else int(code), str(body.get("Message", ""))
    )


def _mapped(convert: Callable[[Any], T], body: Any, *, ambiguous: bool = False) -> T:
    """Map a decoded body with a ``payloads`` function; a body of the wrong shape becomes a typed
    error. For a send (``ambiguous=True``) a 2xx we cannot read may still mean "accepted", so the
    caller must reconcile rather than fail the job.
    """
    try:
        return convert(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = f"unexpected Postmark answer shape: {type(exc).__name__}: {exc}"
        if ambiguous:
            raise PostmarkAmbiguousError(reason) from exc
        raise PostmarkUnexpectedResponseError(reason) from exc


def _listed(convert: Callable[[Any], T], key: str) -> Callable[[Any], list[T]]:
    """A mapping of the list under ``key`` of a body (``{"Servers": [...]}`` and the like)."""
    return lambda body: [convert(item) for item in body[key]]


class PostmarkAccountClient:
    """Servers, sender signatures and domains, with the partition's account token.

    Implements ``PostmarkAccountApi``.
    """

    def __init__(self, session: _Session):
        self._session = session

    async def create_server(self, name: str, *, delivery_type: str) -> PostmarkServer:
        body = await self._session.call(
            "POST", "/servers", body={"Name": name, "DeliveryType": delivery_type}
        )
        return _mapped(payloads.server_from_json, body)

    async def get_server(self, server_id: int) -> PostmarkServer:
        body = await self._session.call("GET", f"/servers/{server_id}")
        return _mapped(payloads.server_from_json, body)

    async def list_servers(self, name: str | None = None) -> list[PostmarkServer]:
        """Every server (all pages); ``name`` is Postmark's partial, case-insensitive match."""
        params = {"name": name} if name else None
        return await self._session.pages(
            "/servers", _listed(payloads.server_from_json, "Servers"), params
        )

    async def delete_server(self, server_id: int) -> None:
        await self._session.call("DELETE", f"/servers/{server_id}")

    async def edit_server(
        self, server_id: int, changes: PostmarkServerEdit
    ) -> PostmarkServerDetails:
        """Partial update; an edit with nothing to change is Postmark's permanent 609."""
        request = payloads.server_edit_request(changes)
        body = await self._session.call("PUT", f"/servers/{server_id}", body=request)
        return _mapped(payloads.server_details_from_json, body)

    async def create_signature(
        self, *, from_email: str, name: str, reply_to: str | None, return_path_domain: str
    ) -> PostmarkSignature:
        request = payloads.signature_request(
            from_email=from_email,
            name=name,
            reply_to=reply_to,
            return_path_domain=return_path_domain,
        )
        body = await self._session.call("POST", "/senders", body=request)
        return _mapped(payloads.signature_from_json, body)

    async def get_signature(self, signature_id: int) -> PostmarkSignature:
        body = await self._session.call("GET", f"/senders/{signature_id}")
        return _mapped(payloads.signature_from_json, body)

    async def list_signatures(self) -> list[PostmarkSignature]:
        """Every signature (all pages), brief fields only: DKIM/Return-Path fields are empty."""
        convert = _listed(payloads.signature_from_json, "SenderSignatures")
        return await self._session.pages("/senders", convert)

    async def delete_signature(self, signature_id: int) -> None:
        await self._session.call("DELETE", f"/senders/{signature_id}")

    async def edit_signature(
        self, signature_id: int, *, name: str, reply_to: str | None = None,
        return_path_domain: str | None = None,
    ) -> PostmarkSignature:
        """Rename, change reply-to or Return-Path domain (a new one must be verified again)."""
        request = payloads.signature_edit_request(
            name=name, reply_to=reply_to, return_path_domain=return_path_domain
        )
        body = await self._session.call("PUT", f"/senders/{signature_id}", body=request)
        return _mapped(payloads.signature_from_json, body)

    async def resend_signature_confirmation(self, signature_id: int) -> None:
        """Postmark e-mails the confirmation link again; 506 once the signature is confirmed."""
        await self._session.call("POST", f"/senders/{signature_id}/resend", idempotent=True)

    async def create_domain(self, name: str, *, return_path_domain: str) -> PostmarkDomain:
        """A new domain with a pending DKIM key; 512 when Postmark has one of that name."""
        request = payloads.domain_request(name, return_path_domain)
        body = await self._session.call("POST", "/domains", body=request)
        return _mapped(payloads.domain_from_json, body)

    async def edit_domain(self, domain_id: int, *, return_path_domain: str) -> PostmarkDomain:
        request = {"ReturnPathDomain": return_path_domain}
        body = await self._session.call("PUT", f"/domains/{domain_id}", body=request)
        return _mapped(payloads.domain_from_json, body)

    async def delete_domain(self, domain_id: int) -> None:
        await self._session.call("DELETE", f"/domains/{domain_id}")

    async def rotate_domain_dkim(self, domain_id: int) -> PostmarkDomain:
        """Ask for a new DKIM key: it is pending (publish it, verify) while the old one signs."""
        body = await self._session.call("POST", f"/domains/{domain_id}/rotatedkim")
        return _mapped(payloads.domain_from_json, body)

    async def get_domain(self, domain_id: int) -> PostmarkDomain:
        body = await self._session.call("GET", f"/domains/{domain_id}")
        return _mapped(payloads.domain_from_json, body)

    async def list_domains(self) -> list[PostmarkDomain]:
        """Every domain (all pages), brief fields only: DNS record fields are empty."""
        return await self._session.pages("/domains", _listed(payloads.domain_from_json, "Domains"))

    async def verify_domain_dkim(self, domain_id: int) -> PostmarkDomain:
        """Ask Postmark to re-check the DKIM TXT record now; answers the refreshed domain."""
        body = await self._session.call("PUT", f"/domains/{domain_id}/verifyDkim")
        return _mapped(payloads.domain_from_json, body)

    async def verify_domain_return_path(self, domain_id: int) -> PostmarkDomain:
        """Ask Postmark to re-check the Return-Path CNAME now; answers the refreshed domain."""
        body = await self._session.call("PUT", f"/domains/{domain_id}/verifyReturnPath")
        return _mapped(payloads.domain_from_json, body)


class PostmarkServerClient:
    """Calls made with one server's token (implements ``PostmarkServerApi``)."""

    def __init__(self, session: _Session):
        self._session = session

    async def send_email(self, email: OutboundEmail) -> SendOutcome:
        """``POST /email``. An accepted message returns; any refusal raises ``PostmarkError``."""
        body = await self._session.call("POST", "/email", body=payloads.email_request(email))
        return _mapped(partial(payloads.send_outcome_from_json, to=email.to), body, ambiguous=True)

    async def send_batch(self, emails: Sequence[OutboundEmail]) -> list[SendOutcome]:
        """``POST /email/batch``: one outcome per message, in request order; per-item refusals are
        outcomes (``accepted`` false), whole-request refusals (bad token, 410...) raise."""
        request = [payloads.email_request(email) for email in emails]
        body = await self._session.call("POST", "/email/batch", body=request)
        return _mapped(
            partial(payloads.batch_outcomes_from_json, emails=emails), body, ambiguous=True
        )

    async def search_outbound(
        self, metadata: Mapping[str, str], count: int = 50
    ) -> list[OutboundMessageSummary]:
        """Outbound messages whose metadata matches, newest first (reconciliation, §9)."""
        params = payloads.outbound_search_params(metadata, count)
        body = await self._session.call("GET", "/messages/outbound", params=params)
        return _mapped(_listed(payloads.message_summary_from_json, "Messages"), body)

    async def get_message_details(self, message_id: str) -> OutboundMessageDetails:
        body = await self._session.call("GET", f"/messages/outbound/{message_id}/details")
        return _mapped(payloads.message_details_from_json, body)

    async def get_bounce(self, bounce_id: int) -> PostmarkBounce:
        body = await self._session.call("GET", f"/bounces/{bounce_id}")
        return _mapped(payloads.bounce_from_json, body)

    async def list_bounces(
        self, email_filter: str | None = None, message_stream: str = "outbound",
        tag: str | None = None,
    ) -> list[PostmarkBounce]:
        """Every bounce of the stream (all pages), newest first; ``email_filter`` is Postmark's
        partial address match, ``tag`` the message's exact tag. Postmark serves at most 10,000
        (count + offset) per query; the pager stops there."""
        params = payloads.bounce_list_params(email_filter, message_stream, tag)
        return await self._session.pages(
            "/bounces", _listed(payloads.bounce_from_json, "Bounces"), params, window=MAX_WINDOW
        )

    async def activate_bounce(self, bounce_id: int) -> PostmarkBounce:
        """Reactivate the bounced address (lifts its suppression); a spam complaint cannot be
        reactivated (permanent 1003)."""
        body = await self._session.call("PUT", f"/bounces/{bounce_id}/activate")
        return _mapped(payloads.activated_bounce_from_json, body)

    async def delivery_stats(self) -> DeliveryStats:
        body = await self._session.call("GET", "/deliverystats")
        return _mapped(payloads.delivery_stats_from_json, body)

    async def list_message_streams(self, stream_type: str = "All") -> list[MessageStream]:
        """The server's streams; ``stream_type`` All, Transactional, Inbound or Broadcasts."""
        body = await self._session.call(
            "GET", "/message-streams", params={"MessageStreamType": stream_type}
        )
        return _mapped(_listed(payloads.message_stream_from_json, "MessageStreams"), body)

    async def create_webhook(
        self,
        *,
        url: str,
        username: str,
        password: str,
        triggers: frozenset[str],
        message_stream: str = "outbound",
        headers: Mapping[str, str] | None = None,
    ) -> PostmarkWebhook:
        request = payloads.webhook_request(
            url=url,
            username=username,
            password=password,
            triggers=triggers,
            message_stream=message_stream,
            headers=headers,
        )
        body = await self._session.call("POST", "/webhooks", body=request)
        return _mapped(payloads.webhook_from_json, body)

    async def edit_webhook(
        self, webhook_id: int, *, url: str, username: str, password: str
    ) -> PostmarkWebhook:
        """Change URL and credentials (key rotation); triggers and stream stay as they are."""
        request = payloads.webhook_request(url=url, username=username, password=password)
        body = await self._session.call("PUT", f"/webhooks/{webhook_id}", body=request)
        return _mapped(payloads.webhook_from_json, body)

    async def get_webhook(self, webhook_id: int) -> PostmarkWebhook:
        body = await self._session.call("GET", f"/webhooks/{webhook_id}")
        return _mapped(payloads.webhook_from_json, body)

    async def list_webhooks(self, message_stream: str | None = None) -> list[PostmarkWebhook]:
        params = {"MessageStream": message_stream} if message_stream else None
        body = await self._session.call("GET", "/webhooks", params=params)
        return _mapped(_listed(payloads.webhook_from_json, "Webhooks"), body)

    async def delete_webhook(self, webhook_id: int) -> None:
        await self._session.call("DELETE", f"/webhooks/{webhook_id}")

    async def create_suppressions(self, stream: str, emails: Sequence[str]) -> None:
        await self._change_suppressions(f"/message-streams/{stream}/suppressions", emails)

    async def delete_suppressions(self, stream: str, emails: Sequence[str]) -> None:
        """Raises ``PostmarkPermanentError`` naming the addresses Postmark refused (complaints)."""
        await self._change_suppressions(f"/message-streams/{stream}/suppressions/delete", emails)

    async def dump_suppressions(self, stream: str) -> list[PostmarkSuppression]:
        body = await self._session.call("GET", f"/message-streams/{stream}/suppressions/dump")
        return _mapped(_listed(payloads.suppression_from_json, "Suppressions"), body)

    async def _change_suppressions(self, path: str, emails: Sequence[str]) -> None:
        """Every chunk is sent; per-address refusals are then raised together."""
        failures: list[str] = []
        for start in range(0, len(emails), SUPPRESSION_CHUNK):
            request = payloads.suppressions_request(emails[start : start + SUPPRESSION_CHUNK])
            # Adding or removing a suppression twice has the same effect: safe to repeat.
            body = await self._session.call("POST", path, body=request, idempotent=True)
            failures.extend(_mapped(payloads.failed_suppression_changes, body))
        if failures:
            raise PostmarkPermanentError(
                f"{len(failures)} suppression change(s) failed: {'; '.join(failures)}"
            )


class PostmarkClient:
    """The Postmark entry point (implements ``PostmarkGateway``); close it with ``aclose()``.

    ``account_token`` may be ``None`` for processes that only send; using ``.account`` then raises
    ``PostmarkConfigurationError``.
    """

    def __init__(
        self,
        base_url: str,
        account_token: str | None,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": f"tenantmail/{__version__}"},
        )
        self._account = (
            PostmarkAccountClient(_Session(self._http, ACCOUNT_TOKEN_HEADER, account_token))
            if account_token
            else None
        )

    def __repr__(self) -> str:
        return f"PostmarkClient(base_url={str(self._http.base_url)!r})"

    @property
    def account(self) -> PostmarkAccountClient:
        if self._account is None:
            raise PostmarkConfigurationError("no Postmark account token is configured")
        return self._account

    def server(self, server_token: str) -> PostmarkServerClient:
        """A view of one tenant server's API over the shared connection pool (cheap to create)."""
        return PostmarkServerClient(_Session(self._http, SERVER_TOKEN_HEADER, server_token))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PostmarkClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


__all__ = ["PostmarkAccountClient", "PostmarkClient", "PostmarkServerClient"]
