"""Drift scan (SPEC §8): compare every live configuration with Postmark, the key registry and Route 53.

One run makes at most one listing per outside source — Postmark's server list (paged by the
client), the registry's versions, one listing of the zone — fetched concurrently, then walks the
configurations page by page across tenants and compares in memory (``domain/drift.py``); there is
never a call per configuration. Each finding is one ``email.drift.<tag>`` event (log line, metric
and Sentry issue fingerprinted by tag and configuration); each run ends with ``email.drift.run``
and is kept in ``email_drift_reports``. A source that cannot be listed turns the assertions that
depend on it off for that run and marks the run ``error``: partial findings are still reported,
but a clean answer is never claimed. Nothing is ever changed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.drift import (
    RUN_EVENT,
    UNREADABLE_ENVELOPE,
    Discrepancy,
    DriftReport,
    DriftTag,
    Observed,
    check_configuration,
    enabled_tags,
    index_records,
    orphan_domains,
    orphan_servers,
    run_status,
)
from tenantmail.domain.naming import server_name_prefix
from tenantmail.services.context import ServiceContext

T = TypeVar("T")
PAGE_SIZE = 500
TICK = "drift"
Progress = Callable[[int, int], None]  #: (configurations checked so far, total to check)

POSTMARK_TAGS = frozenset({DriftTag.POSTMARK_ORPHAN_DB_ROW, DriftTag.POSTMARK_ORPHAN_SERVER})
DOMAIN_TAGS = frozenset({DriftTag.POSTMARK_ORPHAN_DB_ROW, DriftTag.POSTMARK_ORPHAN_DOMAIN})
DNS_TAGS = frozenset({DriftTag.DNS_MISSING_RECORD, DriftTag.DNS_VALUE_MISMATCH})


@dataclass
class _Observation:
    observed_at: datetime  #: taken before any listing: rows changed later wait for the next run
    observed: Observed
    partition_servers: dict[int, str]  #: servers named for this partition: id → name
    partition_domains: dict[int, str]  #: Postmark Domains under this partition's mail zone: id → name
    enabled: frozenset[DriftTag]  #: the assertions whose sources could be listed
    errors: list[str] = field(default_factory=list)


async def detect_drift(ctx: ServiceContext, *, progress: Progress | None = None, page_size: int = PAGE_SIZE) -> DriftReport:
    """Run every enabled assertion once, report each finding, keep and return the report."""
    started, clock_start = ctx.clock(), time.monotonic()
    wanted = enabled_tags(ctx.settings.drift_assertions)
    observation, total = await asyncio.gather(_observe(ctx, wanted), ctx.scans.count_live())
    findings, checked, claimed = await _check_pages(ctx, observation, total, progress, page_size)
    if DriftTag.POSTMARK_ORPHAN_SERVER in observation.enabled:
        findings.extend(orphan_servers(observation.partition_servers, claimed.servers))
    if DriftTag.POSTMARK_ORPHAN_DOMAIN in observation.enabled:
        findings.extend(orphan_domains(observation.partition_domains, claimed.domains, claimed.names))
    error = "; ".join(observation.errors) or None
    finished = started + timedelta(seconds=time.monotonic() - clock_start)
    report = DriftReport(
        id=str(uuid.uuid4()), started_at=started, finished_at=finished,
        status=run_status(findings, error), enabled=tuple(sorted(wanted)),
        configurations_checked=checked, discrepancies=tuple(findings), error=error,
    )
    _report(ctx, report)
    await ctx.drift_reports.save(report)
    return report


async def drift_tick(ctx: ServiceContext) -> int:
    """Worker step: one scan per cluster every ``drift_interval_minutes``; 1 when this worker ran it."""
    interval = timedelta(minutes=ctx.settings.drift_interval_minutes)
    if not ctx.settings.drift_assertions or not await ctx.work.claim_tick(TICK, interval, ctx.clock()):
        return 0
    await detect_drift(ctx)
    return 1


def tick_check_seconds(ctx: ServiceContext) -> float:
    """How often an idle worker asks whether a periodic tick is due: often enough, never hot."""
    return min(30.0, ctx.settings.drift_interval_minutes * 60)


# --- observing the outside world ---------------------------------------------------------------


async def _observe(ctx: ServiceContext, wanted: frozenset[DriftTag]) -> _Observation:
    """List only the sources the enabled assertions need, concurrently (four calls at most)."""
    errors: list[str] = []
    observed_at = ctx.clock()
    account = ctx.postmark.account
    servers, domains, records = await asyncio.gather(
        _listed(account.list_servers, "postmark", errors) if wanted & POSTMARK_TAGS else _none(),
        _listed(account.list_domains, "postmark domains", errors) if wanted & DOMAIN_TAGS else _none(),
        _listed(ctx.dns.list_records, "route53", errors) if wanted & DNS_TAGS else _none(),
    )
    enabled = set(wanted)
    if servers is None:
        enabled -= POSTMARK_TAGS
    if domains is None:
        enabled -= {DriftTag.POSTMARK_ORPHAN_DOMAIN}
    if records is None:
        enabled -= DNS_TAGS
    zone = ctx.settings.effective_mail_zone_name.lower()
    prefix = server_name_prefix(zone)
    observed = Observed(
        server_ids=frozenset(s.server_id for s in servers or ()),
        domain_ids=None if domains is None else frozenset(d.domain_id for d in domains),
        key_versions=frozenset(ctx.cipher.versions()),
        records=index_records((r.name, r.type, r.value) for r in records or ()),
    )
    partition = {s.server_id: s.name for s in servers or () if s.name.startswith(prefix)}
    partition_domains = {d.domain_id: d.name for d in domains or () if d.name.lower().endswith("." + zone)}
    return _Observation(observed_at, observed, partition, partition_domains, frozenset(enabled), errors)


async def _listed(call: Callable[[], Awaitable[list[T]]], source: str, errors: list[str]) -> list[T] | None:
    """The listing, or None with the reason recorded: a scan reports what it could not see."""
    try:
        return await call()
    except Exception as exc:  # any failure of the source (HTTP, auth, network) has the same effect
        errors.append(f"{source} listing failed: {type(exc).__name__}: {exc}")
        return None


async def _none() -> None:
    return None


# --- comparing ---------------------------------------------------------------------------------


@dataclass
class _Claimed:
    """What the live configurations hold: server ids, domain ids and sending domains."""

    servers: set[int] = field(default_factory=set)
    domains: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)


async def _check_pages(
    ctx: ServiceContext, observation: _Observation, total: int, progress: Progress | None, page_size: int,
) -> tuple[list[Discrepancy], int, _Claimed]:
    """Walk every live configuration once; returns findings, how many were checked, what they claim."""
    findings: list[Discrepancy] = []
    claimed = _Claimed()
    seen, checked, after = 0, 0, None
    while page := await ctx.scans.live_page(after, page_size):
        for config in page:
            claimed.names.add(config.sending_domain)
            if config.server_id is not None:
                claimed.servers.add(config.server_id)
            if config.domain_id is not None:
                claimed.domains.add(config.domain_id)
            if _changed_since(config, observation.observed_at):
                continue  # it moved after the listings were taken: comparing would invent drift
            checked += 1
            findings.extend(check_configuration(config, _key_version(ctx, config), observation.observed,
                                                observation.enabled))
        seen, after = seen + len(page), page[-1].e_id
        if progress is not None:
            progress(seen, max(total, seen))
    return findings, checked, claimed


def _changed_since(config: EmailConfiguration, moment: datetime) -> bool:
    return config.updated_at is not None and config.updated_at > moment


def _key_version(ctx: ServiceContext, config: EmailConfiguration) -> str | None:
    if config.server_token_ciphertext is None:
        return None
    try:
        return ctx.cipher.key_version(config.server_token_ciphertext)
    except Exception:  # the cipher's MalformedEnvelope: no registry version can ever read it
        return UNREADABLE_ENVELOPE


# --- reporting ---------------------------------------------------------------------------------


def _report(ctx: ServiceContext, report: DriftReport) -> None:
    for finding in report.discrepancies:
        ctx.telemetry.emit(
            finding.tag.event, level="warning", sentry=True, fingerprint=finding.fingerprint,
            configuration_e_id=finding.configuration_e_id, tenant_id=finding.tenant_id,
            subject=finding.subject, expected=finding.expected, actual=finding.actual,
        )
    ctx.telemetry.emit(
        RUN_EVENT, labels={"status": report.status.value},
        level="error" if report.error else "info", sentry=report.error is not None,
        fingerprint=[RUN_EVENT, "error"] if report.error else None, **report.summary(),
    )
