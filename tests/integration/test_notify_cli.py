"""``tenantmail notify`` against a real database, as an operator runs it: create (secret shown
once), list, show, update, rotate-secret, deliveries, retry, delete; one-line errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tenantmail.adapters.db.tables import notification_deliveries
from tenantmail.bootstrap import Container
from tenantmail.domain.notification import Notification, NotificationType
from tests.integration.test_suppression_cli import tenantmail

pytestmark = pytest.mark.usefixtures("engine")
T = ("--tenant", "tenant-a", "--json")


async def test_notify_commands_manage_an_endpoint_and_its_log(app_container: Container) -> None:
    created = await tenantmail(app_container, "notify", "create", "--url", "http://127.0.0.1:9/hook",
                               "--type", "job.sent", "--type", "job.delivered", "--description", "orders", *T)
    e_id = created["eId"]
    assert created["secret"].startswith("whsec_") and created["eventTypes"] == ["job.delivered", "job.sent"]
    listed = await tenantmail(app_container, "notify", "list", *T)
    assert [i["eId"] for i in listed["items"]] == [e_id] and "secret" not in listed["items"][0]
    assert "secret" not in await tenantmail(app_container, "notify", "show", e_id, *T)
    updated = await tenantmail(app_container, "notify", "update", e_id, "--all-types", "--disable", *T)
    assert (updated["eventTypes"], updated["enabled"], updated["disabledReason"]) == ([], False, "operator")
    rotated = await tenantmail(app_container, "notify", "rotate-secret", e_id, *T)
    assert rotated["secret"] != created["secret"]
    await tenantmail(app_container, "notify", "update", e_id, "--enable", *T)
    async with app_container.ctx.uow("tenant-a") as uow:
        await uow.notifications.record(Notification.of(NotificationType.JOB_SENT, "job-1", app_container.ctx.clock()))
        await uow.commit()
    log = await tenantmail(app_container, "notify", "deliveries", e_id, *T)
    (entry,) = log["items"]
    assert (entry["type"], entry["subjectId"], entry["state"]) == ("job.sent", "job-1", "pending")
    retried = await tenantmail(app_container, "notify", "retry", e_id, entry["eId"], *T)
    assert retried["eId"] == entry["eId"]
    assert (await tenantmail(app_container, "notify", "delete", e_id, *T))["deleted"] is True
    async with app_container.engine.connect() as conn:
        assert (await conn.execute(select(notification_deliveries))).all() == []


async def test_notify_errors_are_one_line(app_container: Container) -> None:
    err = await tenantmail(app_container, "notify", "create", "--url", "ftp://x", "--tenant", "tenant-a", ok=False)
    assert "http(s)" in err and len(err.strip().splitlines()) == 1
    err = await tenantmail(app_container, "notify", "show", "nope", "--tenant", "tenant-a", ok=False)
    assert "not found" in err.lower() and len(err.strip().splitlines()) == 1
