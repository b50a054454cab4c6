"""Drift: what the database expects versus what Postmark, the key registry and Route 53 hold (SPEC §8).

Pure comparison, no I/O. The service gathers one observation of the outside world per run
(:class:`Observed`: one server listing, the registry's versions, one listing of the zone) and feeds
pages of configurations through :func:`check_page`; orphan servers and domains need every page
first, so they come last from :func:`orphan_servers` and :func:`orphan_domains`. Repairs are
planned from the findings elsewhere (``domain/drift_repair.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tenantmail.domain.configuration import EmailConfiguration, Operational

EVENT_PREFIX = "email.drift."
RUN_EVENT = "email.drift.run"


class DriftTag(StrEnum):
    """The six assertions; the value is also the name in the ``drift_assertions`` setting."""

    #: a live configuration whose server (or Postmark Domain) is gone
    POSTMARK_ORPHAN_DB_ROW = "postmark_orphan_db_row"
    POSTMARK_ORPHAN_SERVER = "postmark_orphan_server"  #: a partition server no configuration claims
    #: a Postmark Domain under this partition's mail zone that no live configuration sends from
    POSTMARK_ORPHAN_DOMAIN = "postmark_orphan_domain"
    REGISTRY_MISSING_KEY = "registry_missing_key"  #: a stored ciphertext under a version not in the registry
    DNS_MISSING_RECORD = "dns_missing_record"  #: an expected DKIM / Return-Path record absent from the zone
    DNS_VALUE_MISMATCH = "dns_value_mismatch"  #: a record present with another value

    @property
    def event(self) -> str:
        return f"{EVENT_PREFIX}{self.value}"


ALL_TAGS = frozenset(DriftTag)

#: States in which the Postmark server and the DNS records must exist. PROVISIONING is mid-flight
#: (its steps create and compensate), MISSING is already known broken, PENDING has nothing yet.
SETTLED = frozenset({
    Operational.AWAITING_VERIFICATION, Operational.OK, Operational.DEGRADED,
    Operational.UNVERIFIED, Operational.FAILURE,
})
UNREADABLE_ENVELOPE = "<unreadable envelope>"


class RunStatus(StrEnum):
    CLEAN = "clean"
    DRIFT = "drift"
    ERROR = "error"  #: the run could not observe everything it had to; its findings are partial


@dataclass(frozen=True)
class Discrepancy:
    """One finding. ``configuration_e_id`` is None only for an orphan server (no configuration)."""

    tag: DriftTag
    subject: str  #: what differs: a server id, a record name, a key version
    configuration_e_id: str | None = None
    tenant_id: str | None = None
    expected: str | None = None
    actual: str | None = None

    @property
    def fingerprint(self) -> list[str]:
        """Groups repeats of the same finding into one Sentry issue across runs."""
        return [self.tag.value, self.configuration_e_id or self.subject]

    def to_json(self) -> dict[str, str | None]:
        return {"tag": self.tag.value, "subject": self.subject, "configurationEId": self.configuration_e_id,
                "tenantId": self.tenant_id, "expected": self.expected, "actual": self.actual}

    @classmethod
    def from_json(cls, data: Mapping[str, str | None]) -> Discrepancy:
        return cls(DriftTag(str(data["tag"])), str(data["subject"]), data["configurationEId"],
                   data["tenantId"], data["expected"], data["actual"])


@dataclass(frozen=True)
class Observed:
    """The outside world, observed once per run. DNS names are lower case without trailing dot."""

    server_ids: frozenset[int] = frozenset()
    domain_ids: frozenset[int] | None = None  #: None: domains were not listed (not checked)
    key_versions: frozenset[str] = frozenset()
    records: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)  #: (name, type) → values


def normal_record(name: str, record_type: str, value: str) -> tuple[tuple[str, str], str]:
    """Compare names case-insensitively and without the root dot; CNAME targets likewise, TXT exactly."""
    key = (name.rstrip(".").lower(), record_type.upper())
    return key, value.rstrip(".").lower() if key[1] == "CNAME" else value


def index_records(records: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], frozenset[str]]:
    """(name, type, value) triples of the zone → values per (name, type)."""
    found: dict[tuple[str, str], set[str]] = {}
    for name, record_type, value in records:
        key, normal = normal_record(name, record_type, value)
        found.setdefault(key, set()).add(normal)
    return {key: frozenset(values) for key, values in found.items()}


def check_configuration(
    config: EmailConfiguration, key_version: str | None, observed: Observed, enabled: frozenset[DriftTag],
) -> list[Discrepancy]:
    """Every enabled assertion about one configuration. ``key_version`` is its token's (None: no token)."""
    findings: list[Discrepancy] = []
    if DriftTag.REGISTRY_MISSING_KEY in enabled and key_version is not None:
        if key_version not in observed.key_versions:
            findings.append(_about(config, DriftTag.REGISTRY_MISSING_KEY, key_version,
                                   expected="a version in the registry", actual=key_version))
    if config.operational not in SETTLED:
        return findings
    if DriftTag.POSTMARK_ORPHAN_DB_ROW in enabled and config.server_id is not None:
        if config.server_id not in observed.server_ids:
            findings.append(_about(config, DriftTag.POSTMARK_ORPHAN_DB_ROW, str(config.server_id),
                                   expected=f"server {config.server_id}", actual=None))
    if (DriftTag.POSTMARK_ORPHAN_DB_ROW in enabled and config.domain_id is not None
            and observed.domain_ids is not None and config.domain_id not in observed.domain_ids):
        findings.append(_about(config, DriftTag.POSTMARK_ORPHAN_DB_ROW, f"domain {config.domain_id}",
                               expected=f"domain {config.domain_id} ({config.sending_domain})", actual=None))
    findings.extend(_dns_findings(config, observed, enabled))
    return findings


def _dns_findings(config: EmailConfiguration, observed: Observed, enabled: frozenset[DriftTag]) -> list[Discrepancy]:
    if config.dns is None:
        return []
    dns = config.dns
    findings = []
    for name, record_type, value in ((dns.dkim_host, "TXT", dns.dkim_value),
                                     (dns.return_path_host, "CNAME", dns.return_path_value)):
        key, expected = normal_record(name, record_type, value)
        present = observed.records.get(key)
        if present is None and DriftTag.DNS_MISSING_RECORD in enabled:
            findings.append(_about(config, DriftTag.DNS_MISSING_RECORD, f"{key[1]} {key[0]}",
                                   expected=expected, actual=None))
        elif present is not None and expected not in present and DriftTag.DNS_VALUE_MISMATCH in enabled:
            findings.append(_about(config, DriftTag.DNS_VALUE_MISMATCH, f"{key[1]} {key[0]}",
                                   expected=expected, actual=" | ".join(sorted(present))))
    return findings


def _about(
    config: EmailConfiguration, tag: DriftTag, subject: str, *, expected: str | None, actual: str | None,
) -> Discrepancy:
    return Discrepancy(tag, subject, config.e_id, config.tenant_id, expected, actual)


def orphan_servers(partition_servers: Mapping[int, str], claimed: Iterable[int]) -> list[Discrepancy]:
    """Servers named for this partition (id → name) whose id no non-removed configuration holds."""
    claimed_ids = set(claimed)
    return [
        Discrepancy(DriftTag.POSTMARK_ORPHAN_SERVER, str(server_id),
                    expected="a configuration holding this server", actual=name)
        for server_id, name in sorted(partition_servers.items()) if server_id not in claimed_ids
    ]


def orphan_domains(
    partition_domains: Mapping[int, str], claimed_ids: Iterable[int], claimed_names: Iterable[str],
) -> list[Discrepancy]:
    """Postmark Domains under this partition's mail zone (id → name) that no non-removed
    configuration holds by id or sends from by name (a signature configuration's domain is
    Postmark's too)."""
    ids, names = set(claimed_ids), {name.lower() for name in claimed_names}
    return [
        Discrepancy(DriftTag.POSTMARK_ORPHAN_DOMAIN, str(domain_id),
                    expected="a configuration sending from this domain", actual=name)
        for domain_id, name in sorted(partition_domains.items())
        if domain_id not in ids and name.lower() not in names
    ]


@dataclass(frozen=True)
class DriftReport:
    """One run: what was checked, what was found, and whether it could observe everything."""

    id: str
    started_at: datetime
    finished_at: datetime
    status: RunStatus
    enabled: tuple[DriftTag, ...]
    configurations_checked: int
    discrepancies: tuple[Discrepancy, ...]
    error: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Findings per enabled tag (zeros included, so a dashboard sees every assertion ran)."""
        found = Counter(d.tag.value for d in self.discrepancies)
        return {tag.value: found.get(tag.value, 0) for tag in self.enabled}

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def summary(self) -> dict[str, object]:
        return {
            "enabled": [tag.value for tag in self.enabled], "counts": self.counts,
            "configurationsChecked": self.configurations_checked,
            "durationSeconds": round(self.duration_seconds, 3), "error": self.error,
        }


def run_status(discrepancies: Iterable[Discrepancy], error: str | None) -> RunStatus:
    if error is not None:
        return RunStatus.ERROR
    return RunStatus.DRIFT if any(True for _ in discrepancies) else RunStatus.CLEAN


def enabled_tags(names: Iterable[str]) -> frozenset[DriftTag]:
    """The ``drift_assertions`` setting as tags (the setting already refused unknown names)."""
    return frozenset(DriftTag(name) for name in names)
