"""The suppression routes on both databases; removal reaches the sandbox's Postmark over HTTP."""

from __future__ import annotations

import pytest

from tenantmail.bootstrap import Container
from tests.webhook_support import Seeded, seed


@pytest.fixture
async def with_server(engine, app_container: Container) -> tuple[Seeded, str]:  # engine: empty tables
    """tenant-a with a configuration on a real sandbox server; returns it and the server token."""
    server = await app_container.ctx.postmark.account.create_server("ardamails-dev-supp", delivery_type="Sandbox")
    seeded = await seed(app_container.ctx, "tenant-a", server_id=server.server_id, token=server.api_token)
    return seeded, server.api_token


async def test_operator_adds_and_lists_with_filters_and_paging(api, with_server) -> None:
    first = await api.post("/suppression", json={"recipient": " Ann@Example.com "})
    assert first.status_code == 201
    assert first.json()["recipient"] == "ann@example.com"
    assert (first.json()["reason"], first.json()["origin"]) == ("ManualSuppression", "operator")
    again = await api.post("/suppression", json={"recipient": "ann@example.com"})
    assert again.status_code == 200
    await api.post("/suppression", json={"recipient": "bob@example.com", "reason": "HardBounce"})
    page = (await api.get("/suppression", params={"limit": 1})).json()
    assert (page["total"], len(page["items"])) == (2, 1)
    assert set(page["items"][0]) == {"recipient", "reason", "origin", "createdAt"}
    hard = (await api.get("/suppression", params={"reason": "HardBounce"})).json()
    assert [i["recipient"] for i in hard["items"]] == ["bob@example.com"]
    one = (await api.get("/suppression", params={"recipient": "ANN@example.com"})).json()
    assert [i["recipient"] for i in one["items"]] == ["ann@example.com"]


@pytest.mark.parametrize("body", [{"recipient": "not-an-address"}, {"recipient": "a@b.c", "reason": "Bored"},
                                  {"recipient": "a@b.c", "extra": 1}, {}])
async def test_invalid_additions_answer_400(api, with_server, body) -> None:  # type: ignore[no-untyped-def]
    assert (await api.post("/suppression", json=body)).status_code == 400


async def test_remove_lifts_here_and_at_postmark(api, app_container, with_server) -> None:
    _, token = with_server
    postmark = app_container.ctx.postmark.server(token)
    await postmark.create_suppressions("outbound", ["cara@example.com"])
    await api.post("/suppression", json={"recipient": "cara@example.com", "reason": "HardBounce"})
    response = await api.post("/suppression/Cara@Example.com/remove")
    assert response.status_code == 200, response.text
    assert (await api.get("/suppression")).json()["total"] == 0
    assert [s.email_address for s in await postmark.dump_suppressions("outbound")] == []


async def test_spam_complaints_cannot_be_removed(api, with_server) -> None:
    await api.post("/suppression", json={"recipient": "dan@example.com", "reason": "SpamComplaint"})
    response = await api.post("/suppression/dan@example.com/remove")
    assert response.status_code == 409
    assert response.json()["error"] == "SuppressionNotRemovable"
    assert (await api.get("/suppression")).json()["total"] == 1


async def test_removing_an_unknown_entry_answers_404(api, with_server) -> None:
    assert (await api.post("/suppression/nobody@example.com/remove")).status_code == 404


async def test_postmark_failure_leaves_the_entry_and_answers_503(api, app_container, with_server) -> None:
    await api.post("/suppression", json={"recipient": "eve@example.com"})
    async with app_container.ctx.uow("tenant-a") as uow:  # a configuration whose token Postmark refuses
        config = await uow.configurations.sendable()
    seeded, _ = with_server
    assert config is not None and config.e_id == seeded.configuration.e_id
    await app_container.ctx.postmark.account.delete_server(seeded.configuration.server_id)
    response = await api.post("/suppression/eve@example.com/remove")
    assert response.status_code == 503
    assert (await api.get("/suppression")).json()["total"] == 1


async def test_tenants_do_not_see_each_others_entries(api, client_for, with_server) -> None:
    await api.post("/suppression", json={"recipient": "fay@example.com"})
    async with client_for("tenant-b") as other:
        assert (await other.get("/suppression")).json()["total"] == 0
        assert (await other.post("/suppression/fay@example.com/remove")).status_code == 404
    assert (await api.get("/suppression")).json()["total"] == 1
