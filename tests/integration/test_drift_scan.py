"""Drift scans against the real sandbox (over HTTP), moto's Route 53 and both databases.

Every kind of drift is created for real and must show up as exactly that tag for exactly that
configuration; a clean partition reports nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from tenantmail.adapters.keyregistry import remove_version, rotate_registry_file
from tenantmail.bootstrap import Container
from tenantmail.domain.drift import DriftReport, DriftTag, RunStatus
from tenantmail.domain.naming import server_name
from tenantmail.services.detect_drift import detect_drift, drift_tick
from tenantmail.services.ports import DnsRecord
from tests.drift_support import expected_records, provisioned, sandbox_control

pytestmark = pytest.mark.usefixtures("engine")  # engine: empty tables


def findings(report: DriftReport) -> list[tuple[str, str | None]]:
    return [(d.tag.value, d.configuration_e_id) for d in report.discrepancies]


async def test_a_clean_partition_reports_nothing_and_keeps_the_report(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    await provisioned(app_container, "globex", tenant="tenant-b")

    report = await detect_drift(app_container.ctx)

    assert (report.status, report.discrepancies, report.configurations_checked) == (RunStatus.CLEAN, (), 2)
    assert await app_container.ctx.drift_reports.latest() == report


async def test_a_server_deleted_in_postmark_is_an_orphan_db_row(app_container: Container) -> None:
    gone = await provisioned(app_container, "acme")
    await provisioned(app_container, "globex")
    await sandbox_control(app_container, "DELETE", f"/servers/{gone.server_id}")

    report = await detect_drift(app_container.ctx)

    assert findings(report) == [("postmark_orphan_db_row", gone.e_id)]
    assert report.status is RunStatus.DRIFT and report.discrepancies[0].tenant_id == "tenant-a"


async def test_a_stray_server_named_for_the_partition_is_an_orphan_server(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    zone = app_container.settings.effective_mail_zone_name
    stray = await sandbox_control(app_container, "POST", "/servers", json={"Name": server_name(f"stray.{zone}")})
    await sandbox_control(app_container, "POST", "/servers", json={"Name": "ardamails-stage-other"})

    report = await detect_drift(app_container.ctx)

    assert findings(report) == [("postmark_orphan_server", None)]
    assert (report.discrepancies[0].subject, report.discrepancies[0].actual) == (str(stray["ID"]), stray["Name"])


async def test_a_key_version_removed_from_the_registry_flags_the_rows_under_it(app_container: Container) -> None:
    old = await provisioned(app_container, "acme")
    old_version = app_container.registry.current_version
    rotate_registry_file(app_container.registry.path)
    app_container.registry.refresh()
    await provisioned(app_container, "globex")  # written under the new current version
    remove_version(app_container.registry.path, old_version)
    app_container.registry.refresh()

    report = await detect_drift(app_container.ctx)

    assert findings(report) == [("registry_missing_key", old.e_id)]
    assert report.discrepancies[0].actual == old_version


async def test_a_deleted_record_is_missing_and_a_changed_one_mismatches(app_container: Container) -> None:
    missing = await provisioned(app_container, "acme")
    changed = await provisioned(app_container, "globex")
    dkim, _ = expected_records(missing)
    _, return_path = expected_records(changed)
    await app_container.ctx.dns.delete_records([dkim])
    await app_container.ctx.dns.upsert_records([dataclasses.replace(return_path, value="elsewhere.example.com")])

    report = await detect_drift(app_container.ctx)

    assert sorted(findings(report)) == sorted([("dns_missing_record", missing.e_id), ("dns_value_mismatch", changed.e_id)])
    mismatch = next(d for d in report.discrepancies if d.tag is DriftTag.DNS_VALUE_MISMATCH)
    assert (mismatch.expected, mismatch.actual) == (return_path.value.lower(), "elsewhere.example.com")


async def test_an_assertion_switched_off_in_settings_stays_silent(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    await app_container.ctx.dns.delete_records(expected_records(config))
    app_container.settings.drift_assertions = ["postmark_orphan_db_row", "registry_missing_key"]

    report = await detect_drift(app_container.ctx)

    assert report.status is RunStatus.CLEAN and set(report.counts) == {"postmark_orphan_db_row", "registry_missing_key"}


class Recorder:
    """Keeps every emit so the per-finding contract (event, Sentry fingerprint) can be checked."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, *, labels: Mapping[str, str] | None = None, level: str = "info",
             sentry: bool = False, fingerprint: Sequence[str] | None = None, **fields: Any) -> None:
        self.events.append((event, {"labels": labels, "sentry": sentry, "fingerprint": fingerprint, **fields}))

    def set_gauge(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None:
        raise AssertionError("drift sets no gauge")


async def test_each_finding_is_one_event_with_sentry_fingerprint_and_the_run_is_summarised(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    await app_container.ctx.dns.delete_records(expected_records(config)[:1])
    recorder = Recorder()

    await detect_drift(dataclasses.replace(app_container.ctx, telemetry=recorder))

    (event, fields), (run_event, run_fields) = recorder.events
    assert event == "email.drift.dns_missing_record"
    assert fields["sentry"] is True and fields["fingerprint"] == ["dns_missing_record", config.e_id]
    assert (fields["configuration_e_id"], fields["tenant_id"]) == (config.e_id, "tenant-a")
    assert fields["expected"] == config.dns.dkim_value and fields["actual"] is None  # type: ignore[union-attr]
    assert run_event == "email.drift.run" and run_fields["labels"] == {"status": "drift"}
    assert run_fields["counts"]["dns_missing_record"] == 1 and "durationSeconds" in run_fields


async def test_findings_reach_the_metrics(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    await sandbox_control(app_container, "DELETE", f"/servers/{config.server_id}")

    await detect_drift(app_container.ctx)

    assert app_container.metrics_registry.get_sample_value("email_drift_postmark_orphan_db_row_total") == 1


async def test_an_unreachable_source_marks_the_run_as_error_but_other_assertions_still_run(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    await app_container.ctx.dns.delete_records(expected_records(config)[:1])
    await sandbox_control(app_container, "POST", "/faults",
                          json={"kind": "status", "status": 500, "count": None, "method": "GET", "path": "/servers"})

    report = await detect_drift(app_container.ctx)

    assert report.status is RunStatus.ERROR and "postmark listing failed" in (report.error or "")
    assert findings(report) == [("dns_missing_record", config.e_id)]


async def test_the_worker_tick_scans_once_per_interval_across_the_cluster(app_container: Container) -> None:
    now = app_container.ctx.clock()
    at = lambda moment: dataclasses.replace(app_container.ctx, clock=lambda: moment)  # noqa: E731

    assert await drift_tick(at(now)) == 1
    assert await drift_tick(at(now + timedelta(minutes=1))) == 0
    assert await drift_tick(at(now + timedelta(minutes=app_container.settings.drift_interval_minutes))) == 1
    assert (await app_container.ctx.drift_reports.latest()) is not None


async def test_records_of_other_names_in_the_zone_do_not_matter(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    zone = app_container.settings.effective_mail_zone_name
    await app_container.ctx.dns.upsert_records([DnsRecord(f"unrelated.{zone}", "TXT", "hello")])

    assert (await detect_drift(app_container.ctx)).status is RunStatus.CLEAN


async def test_a_configuration_changed_after_the_listings_waits_for_the_next_run(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    await app_container.ctx.dns.delete_records(expected_records(config))
    before_the_change = config.updated_at - timedelta(seconds=1)  # type: ignore[operator]

    report = await detect_drift(dataclasses.replace(app_container.ctx, clock=lambda: before_the_change))

    assert (report.status, report.configurations_checked) == (RunStatus.CLEAN, 0)
