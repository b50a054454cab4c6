"""The notification pages in chromium (JavaScript off, axe-core): add an endpoint pointing to a
real local receiver, see the secret once, see a send's notifications delivered in the log, retry
one, disable the endpoint."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Service, eventually
from tests.browser.test_console_flows import Check, Shot, reached, send, sendable_configuration, unique
from tests.notification_support import NotificationReceiver

pytestmark = pytest.mark.xdist_group("browser")


def test_add_an_endpoint_watch_its_deliveries_retry_and_disable(
    page: Any, service: Service, notification_receiver: NotificationReceiver, accessible: Check, screenshot: Shot,
) -> None:
    tenant = unique("notify")
    config = sendable_configuration(service, tenant)
    page.goto(f"/console/t/{tenant}/notifications")
    expect(page.locator("main")).to_contain_text("No endpoint")
    form = page.locator("form.stack")
    form.get_by_label("URL").fill(notification_receiver.url)
    form.get_by_label("Description").fill("orders back end")
    form.get_by_label("job.delivered").check()
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("shown only now")
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("whsec_")
    accessible(page)
    screenshot(page, "notifications-added")

    job = send(service, tenant, config, "reader@example.com", "Your order")
    reached(service, tenant, job, "DELIVERED")
    eventually(lambda: notification_receiver.accepted(), timeout=60)
    endpoint_e_id = page.get_by_role("link", name=re.compile(r"^[0-9a-f-]{36}$")).first.inner_text()
    with service.api(tenant) as api:  # the worker records the outcome a step after the answer
        eventually(lambda: api.get(f"/notification-endpoint/{endpoint_e_id}/deliveries",
                                   params={"state": "delivered"}).json()["total"] == 1, timeout=60)

    page.get_by_role("link", name=re.compile(r"^[0-9a-f-]{36}$")).first.click()
    expect(page.locator("main")).to_contain_text("orders back end")
    row = page.get_by_role("row", name=re.compile("job.delivered"))
    expect(row).to_contain_text("delivered")
    expect(row).to_contain_text("200")
    accessible(page)
    screenshot(page, "notification-endpoint")
    row.get_by_role("button", name=re.compile("Retry")).click()
    eventually(lambda: len(notification_receiver.accepted()) == 2, timeout=60)
    assert len({a.webhook_id for a in notification_receiver.accepted()}) == 1  # the same notification again

    page.get_by_role("button", name="Disable").click()
    expect(page.locator("main")).to_contain_text("operator since")
    expect(page.get_by_role("button", name=re.compile("Enable"))).to_have_count(1)
    assert secret not in page.content()
