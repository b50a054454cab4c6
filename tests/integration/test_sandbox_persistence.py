"""The emulator's state survives a restart on the same SQLite file; the runner wires it all."""

from __future__ import annotations

from pathlib import Path

import httpx

from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.route53_local import LocalRoute53
from tenantmail.sandbox.runner import start_sandbox
from tenantmail.sandbox.verification import route53_client
from tests.sandbox_fixtures import JSON_HEADERS, serve_emulator



def test_state_survives_a_restart(local_route53: LocalRoute53, tmp_path: Path) -> None:
    state_file = tmp_path / "postmark.sqlite3"
    http, emulator = serve_emulator(local_route53, SandboxConfig(), state_file)
    server = emulator.create_server(Name="persisted")
    sender = emulator.verified_sender()
    sent = emulator.server(server["ApiTokens"][0]).post("/email", json={
        "From": sender, "To": "r@example.net", "TextBody": "x", "Metadata": {"send_id": "p1"}}).json()
    http.stop()

    http, reopened = serve_emulator(local_route53, SandboxConfig(), state_file)
    try:
        api = reopened.server(server["ApiTokens"][0])
        assert api.get("/server").json()["Name"] == "persisted"
        found = api.get("/messages/outbound?count=1&offset=0&metadata_send_id=p1").json()
        assert found["Messages"][0]["MessageID"] == sent["MessageID"]
        assert reopened.create_server()["ID"] > server["ID"]
    finally:
        http.stop()


def test_runner_starts_route53_with_the_zone_and_the_emulator(tmp_path: Path) -> None:
    with start_sandbox(account_token="runner-token", state_dir=tmp_path, zone_name="run.example.com") as running:
        headers = {**JSON_HEADERS, "X-Postmark-Account-Token": "runner-token"}
        listed = httpx.get(f"{running.base_url}/servers?count=1&offset=0", headers=headers)
        assert listed.json() == {"TotalCount": 0, "Servers": []}
        assert running.zone_id and running.state_path == tmp_path / "postmark.sqlite3"
    assert (tmp_path / "postmark.sqlite3").exists()


def test_the_zone_records_survive_a_clean_restart_of_the_runner(tmp_path: Path) -> None:
    record = {"Name": "_dkim.acme.run.example.com.", "Type": "TXT", "TTL": 300,
              "ResourceRecords": [{"Value": '"k=rsa; p=abc"'}]}
    with start_sandbox(account_token="t", state_dir=tmp_path, zone_name="run.example.com") as first:
        route53_client(first.route53_endpoint_url).change_resource_record_sets(
            HostedZoneId=first.zone_id,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
        )
    with start_sandbox(account_token="t", state_dir=tmp_path, zone_name="run.example.com") as second:
        sets = route53_client(second.route53_endpoint_url).list_resource_record_sets(
            HostedZoneId=second.zone_id
        )["ResourceRecordSets"]
    restored = [s for s in sets if s["Type"] == "TXT"]
    assert [(s["Name"], s["ResourceRecords"]) for s in restored] == [(record["Name"], record["ResourceRecords"])]
