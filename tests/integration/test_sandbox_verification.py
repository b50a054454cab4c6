"""Sender verification only through records really present in moto's Route 53."""

from __future__ import annotations

from tenantmail.sandbox.route53_local import LocalRoute53, ensure_zone
from tests.sandbox_fixtures import ZONE, Emulator, unique



def test_signature_verifies_only_after_dkim_and_return_path_records_exist(emulator: Emulator) -> None:
    domain = f"{unique('v')}.{ZONE}"
    created = emulator.account.post("/senders", json={
        "FromEmail": f"shop@{domain}", "Name": "Shop", "ReturnPathDomain": f"pm-bounces.{domain}"}).json()
    assert created["DKIMPendingHost"].endswith(f"pm._domainkey.{domain}")
    assert created["DKIMPendingTextValue"].startswith("k=rsa; p=")
    assert (created["DKIMHost"], created["DKIMUpdateStatus"]) == ("", "Pending")
    assert created["ReturnPathDomainCNAMEValue"] == "pm.mtasv.net"

    still_pending = emulator.account.get(f"/senders/{created['ID']}").json()
    assert not still_pending["DKIMVerified"] and not still_pending["ReturnPathDomainVerified"]

    emulator.publish_dns(created)
    verified = emulator.account.get(f"/senders/{created['ID']}").json()
    assert verified["DKIMVerified"] and verified["ReturnPathDomainVerified"] and verified["Confirmed"]
    assert verified["DKIMHost"] == created["DKIMPendingHost"]
    assert verified["DKIMTextValue"] == created["DKIMPendingTextValue"]
    assert (verified["DKIMPendingHost"], verified["DKIMUpdateStatus"]) == ("", "Verified")


def test_domain_verify_routes_accept_both_spellings(emulator: Emulator) -> None:
    domain = f"{unique('d')}.{ZONE}"
    created = emulator.account.post("/senders", json={
        "FromEmail": f"a@{domain}", "Name": "A", "ReturnPathDomain": f"pm-bounces.{domain}"}).json()
    domains = emulator.account.get("/domains?count=100&offset=0").json()["Domains"]
    domain_id = next(d["ID"] for d in domains if d["Name"] == domain)
    assert emulator.account.put(f"/domains/{domain_id}/verifyDkim").json()["DKIMVerified"] is False
    emulator.publish_dns(created)
    assert emulator.account.put(f"/domains/{domain_id}/verifydkim").json()["DKIMVerified"] is True
    assert emulator.account.put(f"/domains/{domain_id}/verifyReturnPath").json()[
        "ReturnPathDomainVerified"] is True


def test_signature_errors_use_postmark_codes(emulator: Emulator) -> None:
    account = emulator.account
    assert account.post("/senders", json={"FromEmail": "x@gmail.com", "Name": "X"}).json()["ErrorCode"] == 503
    assert account.post("/senders", json={"Name": "X"}).json()["ErrorCode"] == 520
    assert account.post("/senders", json={"FromEmail": "nope", "Name": "X"}).json()["ErrorCode"] == 522
    email = f"a@{unique('s')}.example.org"
    first = account.post("/senders", json={"FromEmail": email, "Name": "A"}).json()
    assert account.post("/senders", json={"FromEmail": email, "Name": "A"}).json()["ErrorCode"] == 504
    assert account.delete(f"/senders/{first['ID']}").json()["ErrorCode"] == 0
    assert account.get(f"/senders/{first['ID']}").json()["ErrorCode"] == 501


def test_ensure_zone_is_idempotent(local_route53: LocalRoute53) -> None:
    name = f"{unique('z')}.example.com"
    assert ensure_zone(local_route53.endpoint_url, name) == ensure_zone(local_route53.endpoint_url, name)
