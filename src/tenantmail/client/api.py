"""``Client`` and ``AsyncClient``: one method per API operation, over httpx (SPEC §17).

Every operation is written once, in :class:`_Operations`, as the request it makes and how its
answer is read; :class:`Client` runs them with ``httpx.Client``, :class:`AsyncClient` with
``httpx.AsyncClient`` (its methods are the same, awaited). ``OPERATIONS`` lists the route behind
each method: ``tests/unit/test_client_models.py`` fails when a route of ``docs/openapi.json`` has
no method, or a method no route.

``send_email`` (alias ``send``) makes the Idempotency-Key when none is given and retries a 409
``IdempotencyInFlight``, a 429, a 503 and a lost connection with the *same* key (so a retry can
never send twice), with exponential backoff and full jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from tenantmail.client.errors import ApiError, Conflict, TransportError, WaitTimeout, error_for
from tenantmail.client.models import (
    BatchResult,
    ConfigurationRecord,
    ConfigurationVersion,
    Event,
    JobRecord,
    NotificationDelivery,
    NotificationEndpoint,
    NotificationEndpointWithSecret,
    Page,
    TenantLimits,
    RepairResult,
    Suppression,
)

DEFAULT_PREFIX = "/v1/shop-access/email"
RETRIED_STATUSES = frozenset({429, 503})
IN_FLIGHT = "IdempotencyInFlight"
#: Statuses a job does not leave on its own (``wait_for`` stops there whatever was asked).
FINAL = frozenset({"DELIVERED", "BOUNCED", "COMPLAINED", "FAILED", "CANCELLED", "INCONSISTENT"})

#: method (the route's operationId in snake_case) → (HTTP method, path under the prefix).
OPERATIONS: dict[str, tuple[str, str]] = {
    "create_configuration": ("POST", "/configuration"),
    "list_configurations": ("GET", "/configuration"),
    "get_configuration": ("GET", "/configuration/{eId}"),
    "edit_configuration": ("PATCH", "/configuration/{eId}"),
    "get_configuration_history": ("GET", "/configuration/{eId}/history"),
    "provision_configuration": ("POST", "/configuration/{eId}/provision"),
    "reprovision_configuration": ("POST", "/configuration/{eId}/re-provision"),
    "reverify_configuration": ("POST", "/configuration/{eId}/re-verify"),
    "lock_configuration": ("POST", "/configuration/{eId}/lock"),
    "force_lock_configuration": ("POST", "/configuration/{eId}/force-lock"),
    "unlock_configuration": ("POST", "/configuration/{eId}/unlock"),
    "remove_configuration": ("POST", "/configuration/{eId}/remove"),
    "send_email": ("POST", "/job"),
    "send_email_batch": ("POST", "/job/batch"),
    "list_jobs": ("GET", "/job"),
    "get_job": ("GET", "/job/{eId}"),
    "list_job_events": ("GET", "/job/{eId}/events"),
    "list_suppressions": ("GET", "/suppression"),
    "add_suppression": ("POST", "/suppression"),
    "remove_suppression": ("POST", "/suppression/{recipient}/remove"),
    "repair_drift": ("POST", "/drift/repair"),
    "create_notification_endpoint": ("POST", "/notification-endpoint"),
    "list_notification_endpoints": ("GET", "/notification-endpoint"),
    "get_notification_endpoint": ("GET", "/notification-endpoint/{eId}"),
    "update_notification_endpoint": ("PATCH", "/notification-endpoint/{eId}"),
    "delete_notification_endpoint": ("DELETE", "/notification-endpoint/{eId}"),
    "rotate_notification_secret": ("POST", "/notification-endpoint/{eId}/rotate-secret"),
    "list_notification_deliveries": ("GET", "/notification-endpoint/{eId}/deliveries"),
    "retry_notification_delivery": ("POST", "/notification-endpoint/{eId}/deliveries/{deliveryEId}/retry"),
    "get_tenant_limits": ("GET", "/tenant-limits"),
    "set_tenant_limits": ("PUT", "/tenant-limits"),
}
#: A lifecycle signal's name → its method.
SIGNALS = {path.rsplit("/", 1)[1]: name for name, (_, path) in OPERATIONS.items()
           if name.endswith("_configuration") and path.startswith("/configuration/{eId}/")}
#: Routes deliberately without a method: Postmark's webhook.
NOT_CLIENT_ROUTES = frozenset({("POST", "/job/postmark-events")})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    read: Callable[[Any], Any] = lambda data: data
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Without the arguments not given (None)."""
    return {k: v for k, v in values.items() if v is not None}


def _page(item: type[Any]) -> Callable[[Any], Page[Any]]:
    return lambda data: Page.of(item, data)


def _path(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    return template


class _Operations:
    """Each operation as a :class:`Request`; ``_call`` runs it (sync or async)."""

    def _call(self, request: Request) -> Any:
        raise NotImplementedError

    def _op(self, name: str, read: Callable[[Any], Any] = lambda d: d, *, params: dict[str, Any] | None = None,
            json: Any = None, **path: str) -> Any:
        method, template = OPERATIONS[name]
        return self._call(Request(method, _path(template, **path), read, _clean(params or {}), json))

    # --- configurations ------------------------------------------------------------------
    def create_configuration(self, sending_domain_slug: str, *, from_name: str, from_local_part: str | None = None,
                             reply_to_email: str | None = None, authentication: str | None = None,
                             allowed_from_local_parts: list[str] | None = None) -> Any:
        body = _clean({"sendingDomainSlug": sending_domain_slug, "authentication": authentication,
                       "allowedFromLocalParts": allowed_from_local_parts,
                       "signature": _clean({"fromName": from_name, "fromLocalPart": from_local_part,
                                            "replyToEmail": reply_to_email})})
        return self._op("create_configuration", ConfigurationRecord.from_json, json=body)

    def list_configurations(self, *, operational_status: list[str] | None = None,
                            administrative_status: list[str] | None = None, limit: int = 50, offset: int = 0) -> Any:
        return self._op("list_configurations", _page(ConfigurationRecord), params={
            "operationalStatus": operational_status, "administrativeStatus": administrative_status,
            "limit": limit, "offset": offset})

    def get_configuration(self, e_id: str, *, recorded_as_of: int | None = None,
                          effective_as_of: int | None = None) -> Any:
        return self._op("get_configuration", ConfigurationRecord.from_json, eId=e_id,
                        params={"recordedAsOf": recorded_as_of, "effectiveAsOf": effective_as_of})

    def edit_configuration(self, e_id: str, *, allowed_from_local_parts: list[str]) -> Any:
        return self._op("edit_configuration", ConfigurationRecord.from_json, eId=e_id,
                        json={"allowedFromLocalParts": allowed_from_local_parts})

    def get_configuration_history(self, e_id: str, *, limit: int = 50, offset: int = 0) -> Any:
        return self._op("get_configuration_history", _page(ConfigurationVersion), eId=e_id,
                        params={"limit": limit, "offset": offset})

    def signal_configuration(self, e_id: str, signal: str, *, authentication: str | None = None) -> Any:
        """Any lifecycle signal by its name (``provision``, ``re-provision``, ``re-verify``, ``lock``,
        ``force-lock``, ``unlock``, ``remove``); the same as its own method."""
        name = SIGNALS[signal]
        return self._op(name, ConfigurationRecord.from_json, eId=e_id,
                        json=_clean({"authentication": authentication}) or None)

    def provision_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "provision")

    def reprovision_configuration(self, e_id: str, *, authentication: str | None = None) -> Any:
        return self.signal_configuration(e_id, "re-provision", authentication=authentication)

    def reverify_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "re-verify")

    def lock_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "lock")

    def force_lock_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "force-lock")

    def unlock_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "unlock")

    def remove_configuration(self, e_id: str) -> Any:
        return self.signal_configuration(e_id, "remove")

    # --- jobs ----------------------------------------------------------------------------
    def _send_request(self, configuration_e_id: str, recipient: str, subject: str, *, html_body: str | None,
                      text_body: str | None, reply_to_email: str | None, from_local_part: str | None,
                      attachments: list[dict[str, str]] | None, idempotency_key: str | None,
                      tag: str | None = None, metadata: dict[str, str] | None = None) -> Request:
        body = _clean({"configurationEId": configuration_e_id, "recipient": recipient, "subject": subject,
                       "htmlBody": html_body, "textBody": text_body, "replyToEmail": reply_to_email,
                       "fromLocalPart": from_local_part, "attachments": attachments, "tag": tag,
                       "metadata": metadata})
        key = idempotency_key or f"tmc-{uuid.uuid4()}"
        return Request("POST", OPERATIONS["send_email"][1], JobRecord.from_json, json=body,
                       headers={"Idempotency-Key": key})

    def list_jobs(self, *, status: list[str] | None = None, recipient: str | None = None,
                  configuration_e_id: str | None = None, tag: str | None = None,
                  metadata: dict[str, str] | None = None, message_id: str | None = None, subject: str | None = None,
                  created_from: str | None = None, created_to: str | None = None, limit: int = 50,
                  offset: int = 0) -> Any:
        """The tenant's jobs, newest first; every filter narrows (``metadata``: jobs having every pair;
        ``subject``: contains, any case)."""
        return self._op("list_jobs", _page(JobRecord), params={
            "status": status, "recipient": recipient, "configurationEId": configuration_e_id, "tag": tag,
            "messageId": message_id, "subject": subject, "createdFrom": created_from, "createdTo": created_to,
            "limit": limit, "offset": offset, **{f"metadata.{k}": v for k, v in (metadata or {}).items()}})

    def send_email_batch(self, messages: list[dict[str, Any]]) -> Any:
        """Queue up to 500 sends, each a ``POST /job`` body (API field names) with its own
        ``idempotencyKey``; the results come in input order, each with its own status. Safe to
        repeat as a whole: every message is idempotent by its key."""
        return self._op("send_email_batch", BatchResult.from_json, json={"messages": messages})

    def get_job(self, e_id: str) -> Any:
        return self._op("get_job", JobRecord.from_json, eId=e_id)

    def list_job_events(self, e_id: str, *, limit: int = 50, offset: int = 0) -> Any:
        return self._op("list_job_events", _page(Event), eId=e_id, params={"limit": limit, "offset": offset})

    # --- suppression, drift --------------------------------------------------------------
    def list_suppressions(self, *, recipient: str | None = None, reason: list[str] | None = None,
                          limit: int = 50, offset: int = 0) -> Any:
        return self._op("list_suppressions", _page(Suppression),
                        params={"recipient": recipient, "reason": reason, "limit": limit, "offset": offset})

    def add_suppression(self, recipient: str, *, reason: str | None = None) -> Any:
        return self._op("add_suppression", Suppression.from_json, json=_clean({"recipient": recipient, "reason": reason}))

    def remove_suppression(self, recipient: str) -> Any:
        return self._op("remove_suppression", Suppression.from_json, recipient=recipient)

    def repair_drift(self, *, apply: bool = False, delete_orphan_server_ids: list[int] | None = None,
                     delete_orphan_domain_ids: list[int] | None = None) -> Any:
        return self._op("repair_drift", RepairResult.from_json, json=_clean({
            "apply": apply, "deleteOrphanServerIds": delete_orphan_server_ids,
            "deleteOrphanDomainIds": delete_orphan_domain_ids}))

    # --- notification endpoints ----------------------------------------------------------
    def create_notification_endpoint(self, url: str, *, event_types: list[str] | None = None,
                                     description: str = "", enabled: bool = True) -> Any:
        """The new endpoint with its ``secret`` (shown this once: keep it)."""
        return self._op("create_notification_endpoint", NotificationEndpointWithSecret.from_json, json={
            "url": url, "eventTypes": event_types or [], "description": description, "enabled": enabled})

    def list_notification_endpoints(self, *, limit: int = 50, offset: int = 0) -> Any:
        return self._op("list_notification_endpoints", _page(NotificationEndpoint),
                        params={"limit": limit, "offset": offset})

    def get_notification_endpoint(self, e_id: str) -> Any:
        return self._op("get_notification_endpoint", NotificationEndpoint.from_json, eId=e_id)

    def update_notification_endpoint(self, e_id: str, *, url: str | None = None, event_types: list[str] | None = None,
                                     description: str | None = None, enabled: bool | None = None) -> Any:
        return self._op("update_notification_endpoint", NotificationEndpoint.from_json, eId=e_id, json=_clean({
            "url": url, "eventTypes": event_types, "description": description, "enabled": enabled}))

    def delete_notification_endpoint(self, e_id: str) -> Any:
        return self._op("delete_notification_endpoint", lambda _: None, eId=e_id)

    def rotate_notification_secret(self, e_id: str) -> Any:
        return self._op("rotate_notification_secret", NotificationEndpointWithSecret.from_json, eId=e_id)

    def list_notification_deliveries(self, e_id: str, *, state: list[str] | None = None, limit: int = 50,
                                     offset: int = 0) -> Any:
        return self._op("list_notification_deliveries", _page(NotificationDelivery), eId=e_id,
                        params={"state": state, "limit": limit, "offset": offset})

    def retry_notification_delivery(self, e_id: str, delivery_e_id: str) -> Any:
        return self._op("retry_notification_delivery", NotificationDelivery.from_json, eId=e_id,
                        deliveryEId=delivery_e_id)

    # --- quotas --------------------------------------------------------------------------
    def get_tenant_limits(self) -> Any:
        return self._op("get_tenant_limits", TenantLimits.from_json)

    def set_tenant_limits(self, *, sends_per_second: float | None = None, burst: int | None = None,
                          sends_per_day: int | None = None) -> Any:
        """Replace the tenant's overrides (None: back to the default)."""
        return self._op("set_tenant_limits", TenantLimits.from_json, json={
            "sendsPerSecond": sends_per_second, "burst": burst, "sendsPerDay": sends_per_day})


@dataclass(frozen=True)
class RetryPolicy:
    """send_email's retries: ``attempts`` in all, ``base · 2^n`` capped at ``cap``, full jitter."""

    attempts: int = 6
    base_seconds: float = 0.25
    cap_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap_seconds * 4)
        return random.uniform(self.base_seconds / 2, min(self.cap_seconds, self.base_seconds * 2 ** attempt))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, Conflict):
        return exc.error == IN_FLIGHT
    return isinstance(exc, ApiError) and exc.status_code in RETRIED_STATUSES


def _headers(api_key: str, tenant_id: str, author: str | None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {api_key}", "x-tenant-id": tenant_id, "user-agent": "tenantmail-client"}
    if author:
        headers["x-author"] = author
    return headers


def _result(request: Request, response: httpx.Response) -> Any:
    if response.is_success:
        return request.read(response.json() if response.content else None)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    retry_after = response.headers.get("retry-after")
    raise error_for(response.status_code, body, float(retry_after) if retry_after and retry_after.isdigit() else None)


def _status_of(job: Any) -> str:
    return str(job.payload.status)


class Client(_Operations):
    """The API, synchronously. ``base_url`` is the service root (``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, api_key: str, tenant_id: str, author: str | None = None, *,
                 api_prefix: str = DEFAULT_PREFIX, timeout: float = 30.0, retry: RetryPolicy = RetryPolicy(),
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/") + api_prefix, timeout=timeout, transport=transport,
                                  headers=_headers(api_key, tenant_id, author))
        self.retry = retry

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, request: Request) -> Any:
        try:
            response = self._http.request(request.method, request.path, params=request.params, json=request.json,
                                          headers=request.headers)
        except httpx.TransportError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc
        return _result(request, response)

    def send_email(self, configuration_e_id: str, recipient: str, subject: str, *, html_body: str | None = None,
                   text_body: str | None = None, reply_to_email: str | None = None, from_local_part: str | None = None,
                   attachments: list[dict[str, str]] | None = None, idempotency_key: str | None = None,
                   tag: str | None = None, metadata: dict[str, str] | None = None) -> JobRecord:
        """Queue a send (202); retried with the same Idempotency-Key, so at most one job results."""
        request = self._send_request(configuration_e_id, recipient, subject, html_body=html_body, text_body=text_body,
                                     reply_to_email=reply_to_email, from_local_part=from_local_part,
                                     attachments=attachments, idempotency_key=idempotency_key,
                                     tag=tag, metadata=metadata)
        for attempt in range(self.retry.attempts):
            try:
                return self._call(request)  # type: ignore[no-any-return]
            except (ApiError, TransportError) as exc:
                if not _retryable(exc) or attempt == self.retry.attempts - 1:
                    raise
                time.sleep(self.retry.delay(attempt, getattr(exc, "retry_after", None)))
        raise AssertionError("unreachable")

    send = send_email

    def wait_for(self, job: str | JobRecord, statuses: Iterable[str] = FINAL, timeout: float = 60.0,
                 interval: float = 0.5) -> JobRecord:
        """Poll the job until its status is one of ``statuses`` (or a final one); WaitTimeout otherwise."""
        e_id = job if isinstance(job, str) else job.e_id
        wanted, deadline = set(statuses), time.monotonic() + timeout
        while True:
            current: JobRecord = self.get_job(e_id)
            if _status_of(current) in wanted or _status_of(current) in FINAL:
                return current
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"job {e_id} is {_status_of(current)} after {timeout:g} s", current)
            time.sleep(interval)

    def iter_jobs(self, *, page_size: int = 100, **filters: Any) -> Iterator[JobRecord]:
        """Every job matching ``filters`` (those of :meth:`list_jobs`), page after page."""
        offset = 0
        while True:
            page: Page[JobRecord] = self.list_jobs(limit=page_size, offset=offset, **filters)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return


class AsyncClient(_Operations):
    """The API, asynchronously: the same methods as :class:`Client`, awaited."""

    def __init__(self, base_url: str, api_key: str, tenant_id: str, author: str | None = None, *,
                 api_prefix: str = DEFAULT_PREFIX, timeout: float = 30.0, retry: RetryPolicy = RetryPolicy(),
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + api_prefix, timeout=timeout,
                                       transport=transport, headers=_headers(api_key, tenant_id, author))
        self.retry = retry

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, request: Request) -> Any:  # type: ignore[override]
        try:
            response = await self._http.request(request.method, request.path, params=request.params,
                                                json=request.json, headers=request.headers)
        except httpx.TransportError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc
        return _result(request, response)

    async def send_email(self, configuration_e_id: str, recipient: str, subject: str, *,  # type: ignore[override]
                         html_body: str | None = None, text_body: str | None = None,
                         reply_to_email: str | None = None, from_local_part: str | None = None,
                         attachments: list[dict[str, str]] | None = None,
                         idempotency_key: str | None = None, tag: str | None = None,
                         metadata: dict[str, str] | None = None) -> JobRecord:
        request = self._send_request(configuration_e_id, recipient, subject, html_body=html_body, text_body=text_body,
                                     reply_to_email=reply_to_email, from_local_part=from_local_part,
                                     attachments=attachments, idempotency_key=idempotency_key,
                                     tag=tag, metadata=metadata)
        for attempt in range(self.retry.attempts):
            try:
                return await self._call(request)  # type: ignore[no-any-return]
            except (ApiError, TransportError) as exc:
                if not _retryable(exc) or attempt == self.retry.attempts - 1:
                    raise
                await asyncio.sleep(self.retry.delay(attempt, getattr(exc, "retry_after", None)))
        raise AssertionError("unreachable")

    send = send_email

    async def wait_for(self, job: str | JobRecord, statuses: Iterable[str] = FINAL, timeout: float = 60.0,
                       interval: float = 0.5) -> JobRecord:
        e_id = job if isinstance(job, str) else job.e_id
        wanted, deadline = set(statuses), time.monotonic() + timeout
        while True:
            current: JobRecord = await self.get_job(e_id)
            if _status_of(current) in wanted or _status_of(current) in FINAL:
                return current
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"job {e_id} is {_status_of(current)} after {timeout:g} s", current)
            await asyncio.sleep(interval)

    async def iter_jobs(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[JobRecord]:
        offset = 0
        while True:
            page: Page[JobRecord] = await self.list_jobs(limit=page_size, offset=offset, **filters)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return
