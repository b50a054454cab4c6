"""The emulator's Postmark API over real HTTP: auth, JSON headers, servers, validation codes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox_fixtures import ACCOUNT_TOKEN, Emulator, unique



def _message(sender: str, to: str = "reader@example.net", **fields: Any) -> dict[str, Any]:
    return {"From": f"Shop <{sender}>", "To": to, "Subject": "Hi", "TextBody": "Hello", **fields}


def test_missing_or_wrong_tokens_get_401_with_error_code_10(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.base_url, headers={"Accept": "application/json"}) as bare:
        no_token = bare.get("/servers?count=10&offset=0")
        bad_server = bare.get("/server", headers={"X-Postmark-Server-Token": "made-up"})
        server_on_account_route = bare.get(
            "/servers?count=10&offset=0", headers={"X-Postmark-Server-Token": "made-up"})
    assert no_token.status_code == 401
    assert no_token.json() == {"ErrorCode": 10,
                               "Message": "Request does not contain a valid Account token."}
    assert bad_server.status_code == 401
    assert bad_server.json()["Message"] == "Request does not contain a valid Server token."
    assert server_on_account_route.json()["ErrorCode"] == 10


def test_requests_without_json_headers_get_409(emulator: Emulator) -> None:
    headers = {"X-Postmark-Account-Token": ACCOUNT_TOKEN}
    with httpx.Client(base_url=emulator.base_url, headers=headers) as client:
        no_accept = client.get("/servers?count=1&offset=0", headers={"Accept": "text/html"})
        form_body = client.post("/servers", content=b"Name=x", headers={
            "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"})
    assert (no_accept.status_code, no_accept.json()["ErrorCode"]) == (422, 409)
    assert form_body.json()["ErrorCode"] == 409


def test_server_crud_with_duplicate_name_and_unknown_id_codes(emulator: Emulator) -> None:
    account = emulator.account
    name = unique("tenant")
    created = emulator.create_server(Name=name, DeliveryType="Sandbox", Color="red")
    assert created["DeliveryType"] == "Sandbox" and created["Color"] == "Red"
    assert created["ApiTokens"] and created["ServerLink"].endswith(f"/servers/{created['ID']}/streams")

    duplicate = account.post("/servers", json={"Name": name.upper()})
    assert (duplicate.status_code, duplicate.json()["ErrorCode"]) == (422, 603)
    listed = account.get(f"/servers?count=10&offset=0&name={name[-8:]}").json()
    assert listed["TotalCount"] == 1 and listed["Servers"][0]["ID"] == created["ID"]

    edited = account.put(f"/servers/{created['ID']}", json={"TrackOpens": True, "DeliveryType": "Live"})
    assert edited.json()["TrackOpens"] is True and edited.json()["DeliveryType"] == "Sandbox"
    own = emulator.server(created["ApiTokens"][0]).get("/server")
    assert own.json()["ID"] == created["ID"]

    removed = account.delete(f"/servers/{created['ID']}")
    assert removed.json() == {"ErrorCode": 0, "Message": f"Server {name} removed."}
    missing = account.get(f"/servers/{created['ID']}")
    assert (missing.status_code, missing.json()["ErrorCode"]) == (422, 601)


def test_server_delete_can_be_switched_off(emulator: Emulator) -> None:
    server = emulator.create_server()
    emulator.control.put("/settings", json={"server_delete_enabled": False})
    refused = emulator.account.delete(f"/servers/{server['ID']}")
    assert refused.json()["ErrorCode"] == 604
    behind_back = emulator.control.delete(f"/servers/{server['ID']}")
    assert behind_back.status_code == 200
    assert emulator.account.get(f"/servers/{server['ID']}").json()["ErrorCode"] == 601


def test_invalid_messages_get_error_code_300_411_and_410(emulator: Emulator) -> None:
    api = emulator.server(emulator.create_server()["ApiTokens"][0])
    sender = emulator.verified_sender()
    cases = {
        "bad address": _message(sender, to="not-an-address"),
        "no body": {**_message(sender), "TextBody": ""},
        "51 recipients": _message(sender, to=",".join(f"r{i}@example.net" for i in range(51))),
        "long metadata": _message(sender, Metadata={"k" * 21: "v"}),
    }
    for label, message in cases.items():
        response = api.post("/email", json=message)
        assert (response.status_code, response.json()["ErrorCode"]) == (422, 300), label
    exe = _message(sender, Attachments=[{"Name": "x.exe", "Content": "AA==",
                                         "ContentType": "application/octet-stream"}])
    assert api.post("/email", json=exe).json()["ErrorCode"] == 411
    too_many = api.post("/email/batch", json=[_message(sender)] * 501)
    assert (too_many.status_code, too_many.json()["ErrorCode"]) == (422, 410)


def test_from_without_signature_is_400_and_unconfirmed_signature_is_401(emulator: Emulator) -> None:
    api = emulator.server(emulator.create_server()["ApiTokens"][0])
    assert api.post("/email", json=_message("x@nowhere.example")).json()["ErrorCode"] == 400
    domain = f"{unique('u')}.example.org"
    signature = emulator.account.post("/senders", json={"FromEmail": f"a@{domain}", "Name": "A"})
    assert signature.json()["Confirmed"] is False
    assert api.post("/email", json=_message(f"a@{domain}")).json()["ErrorCode"] == 401
    emulator.control.post(f"/senders/{signature.json()['ID']}/confirm")
    assert api.post("/email", json=_message(f"a@{domain}")).json()["ErrorCode"] == 0


def test_batch_answers_per_item_and_search_finds_by_metadata(emulator: Emulator) -> None:
    api = emulator.server(emulator.create_server(DeliveryType="Sandbox")["ApiTokens"][0])
    sender = emulator.verified_sender()
    results = api.post("/email/batch", json=[
        _message(sender, Metadata={"send_id": "s-1"}), _message(sender, to="broken"),
    ]).json()
    assert results[0]["ErrorCode"] == 0 and results[0]["To"] == "reader@example.net"
    assert results[1]["ErrorCode"] == 300 and "MessageID" not in results[1]
    found = api.get("/messages/outbound?count=10&offset=0&metadata_send_id=s-1").json()
    assert found["TotalCount"] == 1
    hit = found["Messages"][0]
    assert hit["MessageID"] == results[0]["MessageID"] and hit["Sandboxed"] is True
    assert hit["Metadata"] == {"send_id": "s-1"} and hit["Recipients"] == ["reader@example.net"]
    details = api.get(f"/messages/outbound/{hit['MessageID']}/details").json()
    assert details["TextBody"] == "Hello" and details["MessageEvents"][0]["Type"] == "Delivered"


def test_a_server_token_only_sees_its_own_server(emulator: Emulator) -> None:
    sender = emulator.verified_sender()
    mine = emulator.server(emulator.create_server()["ApiTokens"][0])
    theirs = emulator.server(emulator.create_server()["ApiTokens"][0])
    sent = mine.post("/email", json=_message(sender, Metadata={"send_id": "only-mine"})).json()
    other_view = theirs.get(f"/messages/outbound/{sent['MessageID']}/details")
    assert (other_view.status_code, other_view.json()["ErrorCode"]) == (422, 701)
    assert theirs.get("/messages/outbound?count=5&offset=0&metadata_send_id=only-mine").json()[
        "TotalCount"] == 0


def test_test_token_validates_without_recording(emulator: Emulator) -> None:
    api = emulator.server("POSTMARK_API_TEST")
    accepted = api.post("/email", json=_message("anyone@unverified.example"))
    assert accepted.json()["Message"] == "Test job accepted"
    assert api.post("/email", json=_message("anyone@x.example", to="bad")).json()["ErrorCode"] == 300
    assert api.get("/server").status_code == 401


def test_manual_suppressions_block_sends_until_deleted(emulator: Emulator) -> None:
    api = emulator.server(emulator.create_server()["ApiTokens"][0])
    sender = emulator.verified_sender()
    added = api.post("/message-streams/outbound/suppressions",
                     json={"Suppressions": [{"EmailAddress": "Gone@Example.net"}]}).json()
    assert added["Suppressions"][0]["Status"] == "Suppressed"
    dump = api.get("/message-streams/outbound/suppressions/dump").json()["Suppressions"]
    assert [(s["EmailAddress"], s["SuppressionReason"], s["Origin"]) for s in dump] == [
        ("gone@example.net", "ManualSuppression", "Customer")]
    blocked = api.post("/email", json=_message(sender, to="gone@example.net"))
    assert blocked.json()["ErrorCode"] == 406
    assert "Found inactive addresses: gone@example.net." in blocked.json()["Message"]
    partial = api.post("/email", json=_message(sender, to="gone@example.net, ok@example.net"))
    assert partial.json()["ErrorCode"] == 0 and "inactive addresses" in partial.json()["Message"]
    deleted = api.post("/message-streams/outbound/suppressions/delete",
                       json={"Suppressions": [{"EmailAddress": "gone@example.net"}]}).json()
    assert deleted["Suppressions"][0]["Status"] == "Deleted"
    assert api.post("/email", json=_message(sender, to="gone@example.net")).json()["ErrorCode"] == 0


def test_a_trailing_slash_is_served_not_redirected(emulator: Emulator) -> None:
    account = emulator.account
    created = account.post("/servers/", json={"Name": unique("slash")})
    assert created.status_code == 200, created.text
    listed = account.get("/servers/?count=5&offset=0&name=" + created.json()["Name"])
    assert listed.status_code == 200 and listed.json()["TotalCount"] == 1
    api = emulator.server(created.json()["ApiTokens"][0])
    assert api.get("/message-streams/outbound/").json()["ID"] == "outbound"
    assert api.get("/webhooks/").json() == {"Webhooks": []}


def test_searches_refuse_count_plus_offset_beyond_10000(emulator: Emulator) -> None:
    server = emulator.create_server()
    api = emulator.server(server["ApiTokens"][0])
    assert api.get("/bounces?count=500&offset=9500").status_code == 200
    for path, code in (("/bounces", 1000), ("/messages/outbound", 700)):
        refused = api.get(f"{path}?count=500&offset=9501")
        assert (refused.status_code, refused.json()["ErrorCode"]) == (422, code)
        assert "10,000" in refused.json()["Message"]


def test_stream_objects_are_stable_and_complete(emulator: Emulator) -> None:
    server = emulator.create_server()
    api = emulator.server(server["ApiTokens"][0])
    first = api.get("/message-streams").json()
    assert first["TotalCount"] == 2 and api.get("/message-streams").json() == first
    outbound = api.get("/message-streams/outbound").json()
    assert outbound["CreatedAt"] and outbound["ServerID"] == server["ID"]
    assert outbound["SubscriptionManagementConfiguration"] == {"UnsubscribeHandlingType": "None"}
    assert api.get("/message-streams?MessageStreamType=Broadcasts").json()["TotalCount"] == 0
    assert api.get("/message-streams/broadcast").json()["ErrorCode"] == 1226


def test_deleting_a_domain_deletes_its_signatures_and_an_explicit_domain_outlives_them(
    emulator: Emulator,
) -> None:
    account = emulator.account
    name = f"{unique('d')}.example.org"
    domain = account.post("/domains", json={"Name": name}).json()
    signature = account.post("/senders", json={"FromEmail": f"a@{name}", "Name": "A"}).json()
    assert account.delete(f"/senders/{signature['ID']}").json()["ErrorCode"] == 0
    assert account.get(f"/domains/{domain['ID']}").json()["Name"] == name  # explicit: kept
    again = account.post("/senders", json={"FromEmail": f"b@{name}", "Name": "B"}).json()
    removed = account.delete(f"/domains/{domain['ID']}").json()
    assert removed == {"ErrorCode": 0, "Message": f"Domain {name} removed."}
    assert account.get(f"/senders/{again['ID']}").json()["ErrorCode"] == 501
    assert "Explicit" not in domain
