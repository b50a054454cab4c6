"""The console's notification pages: add an endpoint (secret shown once), its delivery log with a
manual retry, enable/disable, escaping, another tenant's endpoint is a 404 page."""

from __future__ import annotations

import re

import httpx

from tenantmail.bootstrap import Container
from tenantmail.domain.notification import Notification, NotificationType
from tests.e2e.test_console import XSS_NAME, browser, csrf_of, login, tenant  # noqa: F401 (fixtures)


async def test_add_an_endpoint_see_its_log_retry_and_disable(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,  # noqa: F811
) -> None:
    await login(browser)
    page = (await browser.get(f"/console/t/{tenant}/notifications")).text
    assert "No endpoint" in page
    added = await browser.post(f"/console/t/{tenant}/notifications", data={
        "csrf": csrf_of(page), "url": "http://127.0.0.1:9/hook", "description": XSS_NAME, "type:job.bounced": "on"})
    assert added.status_code == 201
    secret = re.search(r'<code id="secret">(whsec_[^<]+)</code>', added.text)
    assert secret and XSS_NAME not in added.text and "job.bounced" in added.text
    e_id = re.search(r"/notifications/([0-9a-f-]{36})", added.text).group(1)  # type: ignore[union-attr]
    assert secret.group(1) not in (await browser.get(f"/console/t/{tenant}/notifications")).text  # only once

    async with app_container.ctx.uow(tenant) as uow:
        await uow.notifications.record(Notification.of(NotificationType.JOB_BOUNCED, "job-9", app_container.ctx.clock()))
        await uow.commit()
    page = (await browser.get(f"/console/t/{tenant}/notifications/{e_id}")).text
    assert "job.bounced" in page and "job-9" in page and ">Retry<span" in page
    webhook_id = re.search(r'name="delivery" value="(msg_[0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    retried = await browser.post(f"/console/t/{tenant}/notifications/{e_id}/retry",
                                 data={"csrf": csrf_of(page), "delivery": webhook_id})
    assert retried.status_code == 303
    disabled = await browser.post(f"/console/t/{tenant}/notifications/{e_id}/enabled",
                                  data={"csrf": csrf_of(page), "enabled": "false"}, follow_redirects=True)
    assert "operator since" in disabled.text and "Enable (delivers what waited)" in disabled.text
    assert (await browser.get(f"/console/t/other-{tenant}/notifications/{e_id}")).status_code == 404


async def test_a_bad_url_is_refused_on_the_page(browser: httpx.AsyncClient, tenant: str) -> None:  # noqa: F811
    await login(browser)
    page = (await browser.get(f"/console/t/{tenant}/notifications")).text
    refused = await browser.post(f"/console/t/{tenant}/notifications", data={"csrf": csrf_of(page), "url": "ftp://x"})
    assert refused.status_code == 400 and "http(s)" in refused.text and "No endpoint" in refused.text
