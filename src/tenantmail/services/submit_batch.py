"""Accepting a batch: ``POST /job/batch`` (SPEC §17 "Batch"). Each message as ``POST /job`` would take it.

Every item has its own ``Idempotency-Key`` and meets the single send's gates, in the single send's
order, written once in :mod:`submit_send` (``gate``): replay / 422 / 412, configuration 404,
``fromLocalPart`` 400, sendable 409, suppressed 403 — and the tenant's quota (429), each message
taking its own token: a batch larger than what is left is accepted up to it, the rest 429.
The accepted items are committed together, in one transaction (``SendStore.queue_jobs``), with
the same "only while the gates still hold" conditions as a single send (and, as a single send,
without reading the gates first for a configuration this process has seen sendable). An item
those conditions stop (a replay, its configuration changed, its recipient suppressed, its key
taken since) is then taken alone, exactly as a single send retries; so is every item when
another request still holds one of their keys (the transaction could not wait for it).

A malformed item fails only itself. A key used twice in one batch: the second is answered as a
repeat of the first would be, after it (a replay, or 422 for another message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from tenantmail.domain.errors import DomainError, IdempotencyInFlight, PayloadTooLarge
from tenantmail.domain.idempotency import IdempotencyRecord
from tenantmail.domain.job import EmailJob
from tenantmail.domain.quota import QuotaExceeded
from tenantmail.domain.send_request import SendRequest
from tenantmail.services.context import ServiceContext
from tenantmail.services.ports import QueueItem
from tenantmail.services.submit_send import (
    NAMESPACE, Render, Submitted, accepted, gate, gated_refusal, prepare, queue_after_reading_gates, quota_take,
    read_gates, remembered_allows, submit_send, throttled,
)

MAX_MESSAGES = 500  #: as Postmark's own batch


@dataclass(frozen=True)
class BatchItem:
    """One message as the entry point read it: a valid request and its key, or why it is not."""

    request: SendRequest | None = None
    idempotency_key: str | None = None
    error: DomainError | None = None


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: int
    e_id: str | None = None
    replayed: bool = False
    error: DomainError | None = None


async def submit_batch(
    ctx: ServiceContext, tenant_id: str, items: Sequence[BatchItem], *, author: str, render: Render,
) -> list[ItemResult]:
    """Each item's outcome, in input order; raises PayloadTooLarge (413) beyond 500 items."""
    if len(items) > MAX_MESSAGES:
        raise PayloadTooLarge(f"a batch holds at most {MAX_MESSAGES} messages (got {len(items)})")
    results: dict[int, ItemResult] = {}
    first: dict[str, int] = {}  #: key → the index of its first item
    repeats: list[int] = []
    prepared: dict[int, tuple[EmailJob, IdempotencyRecord]] = {}
    for index, item in enumerate(items):
        if item.error is not None or item.request is None or item.idempotency_key is None:
            results[index] = _failed(index, item.error or DomainError("invalid message"))
        elif item.idempotency_key in first:
            repeats.append(index)
        else:
            first[item.idempotency_key] = index
            prepared[index] = prepare(ctx, tenant_id, idempotency_key=item.idempotency_key, request=item.request,
                                      author=author, render=render)

    queueable, unread = await _gated(ctx, prepared, results)
    await _queue_together(ctx, queueable, unread, results)
    for index in repeats:  # after the first of the key: a replay of it, or 422
        item = items[index]
        assert item.request is not None and item.idempotency_key is not None
        results[index] = await _alone(ctx, index, submit_send(
            ctx, tenant_id, idempotency_key=item.idempotency_key, request=item.request, author=author, render=render))
    return [results[index] for index in range(len(items))]


async def _gated(
    ctx: ServiceContext, prepared: dict[int, tuple[EmailJob, IdempotencyRecord]], results: dict[int, ItemResult],
) -> tuple[dict[int, QueueItem], set[int]]:
    """The items to queue together, and which of them go without their gates read; the others
    answered (replays, refusals).

    As a single send: an item for a configuration this process has seen sendable goes straight to
    the transaction, whose conditions are every gate passing (an item they stop is then taken
    alone, which reads the gates and answers as a single send would); the others are gated on a
    fresh read first (the reads go out together: the intake shares their transactions)."""
    queueable: dict[int, QueueItem] = {}
    unknown = []
    for index, (job, record) in prepared.items():
        known = ctx.configuration_memo.get(job.tenant_id, job.configuration_e_id)
        if known is not None and known.is_sendable and remembered_allows(known, job.from_local_part):
            queueable[index] = QueueItem(job, record, known.version)
        else:
            unknown.append(index)
    unread = set(queueable)
    facts = await asyncio.gather(*(read_gates(ctx, *prepared[i]) for i in unknown))
    for index, found in zip(unknown, facts, strict=True):
        job, record = prepared[index]
        try:
            replayed = gate(found, job, record)
        except DomainError as refused:
            results[index] = _failed(index, refused)
            continue
        if replayed is not None:
            results[index] = _answered(index, replayed)
            continue
        assert found.configuration is not None
        queueable[index] = QueueItem(job, record, found.configuration.version)
    return dict(sorted(queueable.items())), unread


async def _queue_together(
    ctx: ServiceContext, queueable: dict[int, QueueItem], unread: set[int], results: dict[int, ItemResult],
) -> None:
    """One transaction for every item still let through; the few that meet a concurrent change
    alone. The quota counts the items one by one: the first ones take what is left; a refused item
    whose gates were not read yet has them read first (a replay stays a replay), together."""
    try:
        queued = await ctx.send_store.queue_jobs(NAMESPACE, list(queueable.values()), quota=quota_take(ctx))
    except IdempotencyInFlight:  # another request holds one of the keys: each alone, that one 409
        queued = [False] * len(queueable)
    refused_unread = {index: gated_refusal(ctx, item.job, item.record, done)
                      for (index, item), done in zip(queueable.items(), queued, strict=True)
                      if isinstance(done, QuotaExceeded) and index in unread}
    late = dict(zip(refused_unread, await asyncio.gather(
        *(_alone(ctx, index, outcome) for index, outcome in refused_unread.items())), strict=True))
    for (index, item), done in zip(queueable.items(), queued, strict=True):
        if index in late:
            results[index] = late[index]
            if isinstance(results[index].error, QuotaExceeded):
                throttled(ctx, item.job.tenant_id)
        elif isinstance(done, QuotaExceeded):
            throttled(ctx, item.job.tenant_id)
            results[index] = _failed(index, done)
        elif done:
            results[index] = _answered(index, accepted(ctx, item.job, item.record))
        else:  # _single counts its own refusal
            results[index] = await _alone(ctx, index, _single(ctx, item))


async def _single(ctx: ServiceContext, item: QueueItem) -> Submitted:
    try:
        replayed = await queue_after_reading_gates(ctx, item.job, item.record)
    except QuotaExceeded:
        throttled(ctx, item.job.tenant_id)
        raise
    return replayed if replayed is not None else accepted(ctx, item.job, item.record)


async def _alone(ctx: ServiceContext, index: int, outcome: Awaitable[Submitted]) -> ItemResult:
    try:
        submitted = await outcome
    except DomainError as refused:
        return _failed(index, refused)
    return _answered(index, submitted)


def _answered(index: int, submitted: Submitted) -> ItemResult:
    body = submitted.body if isinstance(submitted.body, dict) else {}
    return ItemResult(index, submitted.status, e_id=body.get("eId"), replayed=submitted.replayed)


def _failed(index: int, error: DomainError) -> ItemResult:
    return ItemResult(index, error.status, error=error)
