"""Drift repair (SPEC §18) over the API, against the real sandbox (HTTP), moto's Route 53 and both
databases: what is planned, what is applied, that each repair is a history version with its author
and an ``email.drift.repaired`` event, and that a second run plans nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from tenantmail.adapters.keyregistry import remove_version, rotate_registry_file
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Authentication, EmailConfiguration
from tenantmail.domain.naming import server_name
from tenantmail.services.configuration_store import load
from tenantmail.services.detect_drift import detect_drift
from tenantmail.services.poll_verification import check_verification
from tenantmail.services.provision_configuration import provision_claimed
from tests.drift_support import expected_records, provisioned, sandbox_control

pytestmark = pytest.mark.usefixtures("engine")  # engine: empty tables
OPERATOR = {"X-Author": "ops:bob"}


async def repair(api: httpx.AsyncClient, status: int = 200, headers: dict[str, str] | None = None,
                 **body: Any) -> dict[str, Any]:
    response = await api.post("/drift/repair", json=body, headers=OPERATOR if headers is None else headers)
    assert response.status_code == status, response.text
    return response.json()


def repaired_count(app: Container, tag: str, action: str) -> float:
    return app.metrics_registry.get_sample_value(
        "email_drift_repaired_total", {"tag": tag, "action": action}) or 0.0


async def zone(app: Container) -> dict[tuple[str, str], str]:
    return {(r.name, r.type): r.value for r in await app.ctx.dns.list_records()}


async def history(app: Container, config_e_id: str, tenant: str = "tenant-a") -> list[tuple[str, str]]:
    async with app.ctx.uow(tenant) as uow:
        versions, _ = await uow.configurations.versions(config_e_id)
    return [(v.cause, v.author) for v in versions]


async def domain_configuration(app: Container, api: httpx.AsyncClient, slug: str) -> EmailConfiguration:
    """A configuration authenticated by a Postmark Domain, provisioned and verified for real."""
    created = await api.post("/configuration", json={
        "sendingDomainSlug": slug, "signature": {"fromName": slug.title()}, "authentication": "domain"})
    e_id = created.json()["eId"]
    await api.post(f"/configuration/{e_id}/provision")
    await provision_claimed(app.ctx)
    await check_verification(app.ctx, "tenant-a", e_id)
    config = await load(app.ctx, "tenant-a", e_id)
    assert config.authentication is Authentication.DOMAIN and config.operational.value == "OK"
    return config


async def test_a_deleted_dkim_record_and_a_changed_return_path_are_repaired_once(
    app_container: Container, api: httpx.AsyncClient,
) -> None:
    missing = await provisioned(app_container, "acme")
    changed = await provisioned(app_container, "globex")
    dkim, _ = expected_records(missing)
    _, return_path = expected_records(changed)
    await app_container.ctx.dns.delete_records([dkim])
    await app_container.ctx.dns.upsert_records([dataclasses.replace(return_path, value="elsewhere.example.com")])

    plan = await repair(api)  # the plan only: nothing changes
    assert (plan["applied"], plan["outstanding"], plan["scan"]["status"]) == (False, 2, "drift")
    assert sorted((r["tag"], r["action"], r["status"]) for r in plan["repairs"]) == [
        ("dns_missing_record", "upsert_dns", "planned"), ("dns_value_mismatch", "upsert_dns", "planned")]
    assert (dkim.name, "TXT") not in await zone(app_container)

    done = await repair(api, apply=True)
    assert (done["applied"], done["outstanding"], done["author"]) == (True, 0, "ops:bob")
    assert {r["status"] for r in done["repairs"]} == {"applied"}
    records = await zone(app_container)
    assert records[(dkim.name, "TXT")] == dkim.value
    assert records[(return_path.name, "CNAME")] == return_path.value
    assert ("drift-repair:dns_missing_record", "ops:bob") in await history(app_container, missing.e_id)
    assert ("drift-repair:dns_value_mismatch", "ops:bob") in await history(app_container, changed.e_id)
    assert repaired_count(app_container, "dns_missing_record", "upsert_dns") == 1
    assert repaired_count(app_container, "dns_value_mismatch", "upsert_dns") == 1

    again = await repair(api, apply=True)
    assert (again["repairs"], again["outstanding"], again["scan"]["status"]) == ([], 0, "clean")
    assert len(await history(app_container, missing.e_id)) == 2  # seeded + the one repair


async def test_a_domain_configurations_records_are_repaired_from_the_domains_values(
    app_container: Container, api: httpx.AsyncClient,
) -> None:
    config = await domain_configuration(app_container, api, "initech")
    domain = await app_container.ctx.postmark.account.get_domain(config.domain_id or 0)
    await app_container.ctx.dns.delete_records(expected_records(config))

    report = await detect_drift(app_container.ctx)
    assert sorted(d.tag.value for d in report.discrepancies) == ["dns_missing_record"] * 2

    done = await repair(api, apply=True)
    assert [r["status"] for r in done["repairs"]] == ["applied", "applied"]
    records = await zone(app_container)
    assert records[(domain.dkim_host, "TXT")] == domain.dkim_text_value
    assert records[(domain.return_path_domain, "CNAME")] == "pm.mtasv.net"
    assert (await repair(api, apply=True))["repairs"] == []


async def test_an_orphan_server_is_deleted_only_with_its_exact_id(app_container: Container, api: httpx.AsyncClient) -> None:
    await provisioned(app_container, "acme")
    zone_name = app_container.settings.effective_mail_zone_name
    stray = await sandbox_control(app_container, "POST", "/servers", json={"Name": server_name(f"stray.{zone_name}")})
    foreign = await sandbox_control(app_container, "POST", "/servers", json={"Name": "ardamails-stage-other"})

    unconfirmed = await repair(api, apply=True)
    [item] = unconfirmed["repairs"]
    assert (item["tag"], item["action"], item["status"]) == (
        "postmark_orphan_server", "delete_orphan_server", "needs_confirmation")
    assert f"--delete-orphan-server {stray['ID']}" in item["detail"] and unconfirmed["outstanding"] == 1
    wrong = await repair(api, apply=True, deleteOrphanServerIds=[stray["ID"] + 1000, foreign["ID"]])
    assert wrong["repairs"][0]["status"] == "needs_confirmation"
    assert wrong["unmatchedConfirmations"]["servers"] == sorted([stray["ID"] + 1000, foreign["ID"]])
    servers = {s.server_id for s in await app_container.ctx.postmark.account.list_servers()}
    assert {stray["ID"], foreign["ID"]} <= servers  # nothing was deleted

    confirmed = await repair(api, apply=True, deleteOrphanServerIds=[stray["ID"]])
    assert confirmed["repairs"][0]["status"] == "applied" and confirmed["outstanding"] == 0
    servers = {s.server_id for s in await app_container.ctx.postmark.account.list_servers()}
    assert stray["ID"] not in servers and foreign["ID"] in servers  # another partition's is never touched
    assert repaired_count(app_container, "postmark_orphan_server", "delete_orphan_server") == 1
    assert (await repair(api, apply=True, deleteOrphanServerIds=[stray["ID"]]))["repairs"] == []


async def test_an_orphan_domain_waits_for_confirmation_too(app_container: Container, api: httpx.AsyncClient) -> None:
    await provisioned(app_container, "acme")
    zone_name = app_container.settings.effective_mail_zone_name
    orphan = await app_container.ctx.postmark.account.create_domain(f"gone.{zone_name}", return_path_domain="")
    await app_container.ctx.postmark.account.create_domain("elsewhere.example.org", return_path_domain="")

    [item] = (await repair(api, apply=True))["repairs"]
    assert (item["tag"], item["subject"], item["status"]) == (
        "postmark_orphan_domain", str(orphan.domain_id), "needs_confirmation")
    done = await repair(api, apply=True, deleteOrphanDomainIds=[orphan.domain_id])
    assert done["repairs"][0]["status"] == "applied"
    names = {d.name for d in await app_container.ctx.postmark.account.list_domains()}
    assert f"gone.{zone_name}" not in names and "elsewhere.example.org" in names


async def test_a_configuration_whose_server_is_gone_moves_to_missing(app_container: Container, api: httpx.AsyncClient) -> None:
    gone = await provisioned(app_container, "acme")
    await sandbox_control(app_container, "DELETE", f"/servers/{gone.server_id}")

    [item] = (await repair(api, apply=True))["repairs"]
    assert (item["tag"], item["action"], item["status"]) == ("postmark_orphan_db_row", "mark_missing", "applied")
    config = await load(app_container.ctx, "tenant-a", gone.e_id)
    assert (config.operational.value, config.last_error.code) == ("MISSING", "postmark_orphan_db_row")  # type: ignore[union-attr]
    assert (await history(app_container, gone.e_id))[-1] == ("drift-repair:postmark_orphan_db_row", "ops:bob")
    assert (await repair(api, apply=True))["repairs"] == []


async def test_a_domain_deleted_in_postmark_is_an_orphan_db_row(app_container: Container, api: httpx.AsyncClient) -> None:
    config = await domain_configuration(app_container, api, "hooli")
    await app_container.ctx.postmark.account.delete_domain(config.domain_id or 0)

    report = await detect_drift(app_container.ctx)
    [finding] = report.discrepancies
    assert (finding.tag.value, finding.subject) == ("postmark_orphan_db_row", f"domain {config.domain_id}")


async def test_a_missing_registry_key_is_never_repaired(app_container: Container, api: httpx.AsyncClient) -> None:
    old = await provisioned(app_container, "acme")
    old_version = app_container.registry.current_version
    rotate_registry_file(app_container.registry.path)
    app_container.registry.refresh()
    remove_version(app_container.registry.path, old_version)
    app_container.registry.refresh()

    for _ in range(2):
        result = await repair(api, apply=True)
        [item] = result["repairs"]
        assert (item["tag"], item["action"], item["status"]) == ("registry_missing_key", "restore_key", "manual")
        assert old_version in item["detail"] and result["outstanding"] == 1
    assert len(await history(app_container, old.e_id)) == 1  # untouched


async def test_repair_requires_an_author_and_a_valid_body(app_container: Container, api: httpx.AsyncClient) -> None:
    missing = await repair(api, 400, headers={"X-Author": ""})
    assert missing["error"] == "MissingAuthor" and missing["requestId"]
    await repair(api, 400, apply="yes please")
    await repair(api, 400, deleteOrphanServerIds=["x"])
    await repair(api, 400, unknown=True)
    async with httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url),  # noqa: SLF001
                                 headers={"X-Author": "a"}) as anonymous:
        assert (await anonymous.post("/drift/repair", json={})).status_code == 401
