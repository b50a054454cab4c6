"""Fault injection through the control API, seen by a client over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox_fixtures import Emulator



def _tenant(emulator: Emulator, timeout: float = 10) -> tuple[httpx.Client, str]:
    return emulator.server(emulator.create_server()["ApiTokens"][0], timeout), emulator.verified_sender()


def _message(sender: str, send_id: str) -> dict[str, Any]:
    return {"From": sender, "To": "r@example.net", "TextBody": "x", "Metadata": {"send_id": send_id}}


def test_429_burst_then_success(emulator: Emulator) -> None:
    api, sender = _tenant(emulator)
    emulator.control.post("/faults", json={"kind": "status", "status": 429, "count": 2,
                                           "method": "POST", "path": "/email"})
    statuses = [api.post("/email", json=_message(sender, f"b{i}")) for i in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].json()["ErrorCode"] == 429
    assert api.get("/messages/outbound?count=10&offset=0").json()["TotalCount"] == 1


def test_faults_restricted_to_a_route_leave_others_alone(emulator: Emulator) -> None:
    api, sender = _tenant(emulator)
    emulator.control.post("/faults", json={"kind": "status", "status": 503, "count": None,
                                           "method": "POST", "path": "/email"})
    assert api.get("/server").status_code == 200
    refused = api.post("/email", json=_message(sender, "r1"))
    assert (refused.status_code, refused.json()["ErrorCode"]) == (503, 100)
    emulator.control.delete("/faults")
    assert api.post("/email", json=_message(sender, "r1")).status_code == 200


def test_drop_after_processing_times_out_yet_the_message_exists(emulator: Emulator) -> None:
    api, sender = _tenant(emulator, timeout=0.5)
    emulator.control.post("/faults", json={"kind": "drop", "path": "/email", "hold_seconds": 10})
    with pytest.raises(httpx.ReadTimeout):
        api.post("/email", json=_message(sender, "ambiguous-1"))
    found = api.get("/messages/outbound?count=1&offset=0&metadata_send_id=ambiguous-1").json()
    assert found["TotalCount"] == 1


def test_forced_error_code_for_the_next_calls(emulator: Emulator) -> None:
    api, sender = _tenant(emulator)
    emulator.control.post("/faults", json={"kind": "error_code", "error_code": 405, "count": 1,
                                           "path": "/email"})
    forced = api.post("/email", json=_message(sender, "f1"))
    assert (forced.status_code, forced.json()["ErrorCode"]) == (422, 405)
    assert api.post("/email", json=_message(sender, "f1")).json()["ErrorCode"] == 0


def test_delayed_response_is_still_processed(emulator: Emulator) -> None:
    api, sender = _tenant(emulator)
    emulator.control.post("/faults", json={"kind": "delay", "delay_seconds": 0.1, "path": "/email"})
    assert api.post("/email", json=_message(sender, "d1")).json()["ErrorCode"] == 0


def test_fractional_faults_hit_some_calls_only(emulator: Emulator) -> None:
    api, _ = _tenant(emulator)
    emulator.control.post("/faults", json={"kind": "status", "status": 500, "count": None,
                                           "probability": 0.5, "path": "/server"})
    statuses = {api.get("/server").status_code for _ in range(40)}
    assert statuses == {200, 500}


def test_invalid_fault_rules_are_refused(emulator: Emulator) -> None:
    response = emulator.control.post("/faults", json={"kind": "status", "status": 418})
    assert response.status_code == 400
    assert emulator.control.get("/faults").json() == []
