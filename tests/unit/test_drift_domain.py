"""The pure drift comparison: each assertion fires on its own discrepancy and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenantmail.domain.configuration import DnsRecords, EmailConfiguration, Operational, Signature
from tenantmail.domain.drift import (
    ALL_TAGS,
    Discrepancy,
    DriftReport,
    DriftTag,
    Observed,
    RunStatus,
    check_configuration,
    index_records,
    orphan_domains,
    orphan_servers,
    run_status,
)
from tenantmail.domain.drift_repair import RepairAction, plan_repairs, unmatched_confirmations

NOW = datetime(2025, 1, 1, tzinfo=UTC)
DKIM = ("20250101._domainkey.acme.dev.ardamails.com", "TXT", "k=rsa; p=MIGf")
RETURN_PATH = ("pm-bounces.acme.dev.ardamails.com", "CNAME", "pm.mtasv.net")


def configuration(status: Operational = Operational.OK, server_id: int | None = 7) -> EmailConfiguration:
    config = EmailConfiguration.create(
        tenant_id="tenant-a", slug="acme", mail_zone_name="dev.ardamails.com", signature=Signature(from_name="Acme"), now=NOW,
    )
    config.operational, config.server_id = status, server_id
    config.dns = DnsRecords(DKIM[0], DKIM[2], RETURN_PATH[0], RETURN_PATH[2])
    return config


def healthy(**overrides: object) -> Observed:
    values: dict[str, object] = {
        "server_ids": frozenset({7}), "key_versions": frozenset({"v1"}),
        "records": index_records([DKIM, RETURN_PATH]),
    }
    return Observed(**{**values, **overrides})  # type: ignore[arg-type]


def tags(findings: list[Discrepancy]) -> list[DriftTag]:
    return [f.tag for f in findings]


def test_a_healthy_configuration_has_no_findings() -> None:
    assert check_configuration(configuration(), "v1", healthy(), ALL_TAGS) == []


def test_a_gone_server_is_an_orphan_db_row() -> None:
    config = configuration()
    [finding] = check_configuration(config, "v1", healthy(server_ids=frozenset({8})), ALL_TAGS)
    assert finding.tag is DriftTag.POSTMARK_ORPHAN_DB_ROW
    assert (finding.configuration_e_id, finding.tenant_id, finding.subject) == (config.e_id, "tenant-a", "7")
    assert finding.fingerprint == ["postmark_orphan_db_row", config.e_id]


def test_a_token_under_a_dropped_version_is_a_missing_key() -> None:
    [finding] = check_configuration(configuration(), "v0", healthy(), ALL_TAGS)
    assert (finding.tag, finding.actual) == (DriftTag.REGISTRY_MISSING_KEY, "v0")


def test_an_absent_record_is_missing_and_another_value_is_a_mismatch() -> None:
    records = index_records([RETURN_PATH[:2] + ("elsewhere.example.com",)])
    findings = check_configuration(configuration(), "v1", healthy(records=records), ALL_TAGS)
    assert tags(findings) == [DriftTag.DNS_MISSING_RECORD, DriftTag.DNS_VALUE_MISMATCH]
    assert findings[1].expected == "pm.mtasv.net" and findings[1].actual == "elsewhere.example.com"


def test_names_and_cname_targets_compare_without_case_or_root_dot_but_txt_exactly() -> None:
    records = index_records([(DKIM[0].upper() + ".", "TXT", DKIM[2]), (RETURN_PATH[0], "CNAME", "PM.MTASV.NET.")])
    assert check_configuration(configuration(), "v1", healthy(records=records), ALL_TAGS) == []
    altered = index_records([(DKIM[0], "TXT", DKIM[2].upper()), RETURN_PATH])
    assert tags(check_configuration(configuration(), "v1", healthy(records=altered), ALL_TAGS)) == [
        DriftTag.DNS_VALUE_MISMATCH
    ]


def test_disabled_assertions_stay_silent() -> None:
    broken = healthy(server_ids=frozenset(), key_versions=frozenset(), records={})
    enabled = frozenset({DriftTag.DNS_MISSING_RECORD})
    assert tags(check_configuration(configuration(), "v1", broken, enabled)) == [DriftTag.DNS_MISSING_RECORD] * 2


@pytest.mark.parametrize("status", [Operational.PROVISIONING, Operational.MISSING])
def test_unsettled_configurations_are_only_checked_for_their_key(status: Operational) -> None:
    broken = healthy(server_ids=frozenset(), key_versions=frozenset(), records={})
    assert tags(check_configuration(configuration(status), "v1", broken, ALL_TAGS)) == [DriftTag.REGISTRY_MISSING_KEY]


def test_orphan_servers_are_those_no_configuration_holds() -> None:
    [orphan] = orphan_servers({7: "ardamails-dev-acme", 9: "ardamails-dev-stray"}, claimed=[7])
    assert (orphan.tag, orphan.subject, orphan.actual, orphan.configuration_e_id) == (
        DriftTag.POSTMARK_ORPHAN_SERVER, "9", "ardamails-dev-stray", None,
    )
    assert orphan.fingerprint == ["postmark_orphan_server", "9"]


def test_discrepancies_round_trip_through_json() -> None:
    finding = Discrepancy(DriftTag.DNS_VALUE_MISMATCH, "TXT x", "e", "t", "a", "b")
    assert Discrepancy.from_json(finding.to_json()) == finding


def test_report_counts_every_enabled_assertion_and_status_prefers_error() -> None:
    finding = Discrepancy(DriftTag.DNS_MISSING_RECORD, "TXT x", "e", "t")
    report = DriftReport("id", NOW, NOW + timedelta(seconds=2), RunStatus.DRIFT, tuple(sorted(ALL_TAGS)), 1, (finding,))
    assert report.counts["dns_missing_record"] == 1 and sum(report.counts.values()) == 1
    assert report.summary()["durationSeconds"] == 2.0
    assert run_status([], None) is RunStatus.CLEAN
    assert run_status([finding], None) is RunStatus.DRIFT
    assert run_status([], "postmark listing failed") is RunStatus.ERROR


def test_a_recorded_domain_missing_from_postmark_is_an_orphan_db_row_only_when_domains_were_listed() -> None:
    config = configuration()
    config.domain_id = 9
    [finding] = check_configuration(config, "v1", healthy(domain_ids=frozenset({8})), ALL_TAGS)
    assert (finding.tag, finding.subject) == (DriftTag.POSTMARK_ORPHAN_DB_ROW, "domain 9")
    assert check_configuration(config, "v1", healthy(domain_ids=None), ALL_TAGS) == []
    assert check_configuration(config, "v1", healthy(domain_ids=frozenset({9})), ALL_TAGS) == []


def test_orphan_domains_are_those_of_the_zone_that_no_configuration_holds_or_sends_from() -> None:
    domains = {1: "acme.dev.ardamails.com", 2: "gone.dev.ardamails.com", 3: "held.dev.ardamails.com"}
    found = orphan_domains(domains, claimed_ids=[3], claimed_names=["ACME.dev.ardamails.com"])
    assert [(d.tag, d.subject, d.actual) for d in found] == [
        (DriftTag.POSTMARK_ORPHAN_DOMAIN, "2", "gone.dev.ardamails.com")]


def _finding(tag: DriftTag, subject: str, actual: str | None = None) -> Discrepancy:
    return Discrepancy(tag, subject, None if tag.value.endswith(("server", "domain")) else "cfg", "t", None, actual)


def test_the_repair_plan_is_safe_by_construction() -> None:
    findings = [
        _finding(DriftTag.DNS_MISSING_RECORD, "TXT x"), _finding(DriftTag.DNS_VALUE_MISMATCH, "CNAME y"),
        _finding(DriftTag.POSTMARK_ORPHAN_DB_ROW, "7"),
        _finding(DriftTag.POSTMARK_ORPHAN_SERVER, "41", "ardamails-dev-stray"),
        _finding(DriftTag.POSTMARK_ORPHAN_SERVER, "42", "ardamails-dev-other"),
        _finding(DriftTag.POSTMARK_ORPHAN_SERVER, "43", "someone-else"),
        _finding(DriftTag.POSTMARK_ORPHAN_DOMAIN, "5", "gone.dev.ardamails.com"),
        _finding(DriftTag.REGISTRY_MISSING_KEY, "cfg", "k7"),
    ]
    plan = plan_repairs(findings, server_prefix="ardamails-dev-", zone="dev.ardamails.com",
                        delete_server_ids=[41, 43, 99], delete_domain_ids=[])
    assert [(r.action.value, r.status.value) for r in plan] == [
        ("upsert_dns", "planned"), ("upsert_dns", "planned"), ("mark_missing", "planned"),
        ("delete_orphan_server", "planned"), ("delete_orphan_server", "needs_confirmation"),
        ("delete_orphan_server", "manual"), ("delete_orphan_domain", "needs_confirmation"),
        ("restore_key", "manual"),
    ]
    assert "k7" in plan[-1].detail and "--delete-orphan-domain 5" in plan[6].detail
    assert unmatched_confirmations(plan, RepairAction.DELETE_ORPHAN_SERVER, [41, 43, 99]) == [99]
