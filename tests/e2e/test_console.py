"""The operator web console: login, pages over seeded data, escaping, CSRF, signals, tenant isolation."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import Administrative, EmailConfiguration, LastError, Operational, Signature
from tenantmail.domain.delivery_event import DeliveryEvent, EventKind
from tenantmail.domain.drift import Discrepancy, DriftReport, DriftTag, RunStatus
from tests.drift_support import expected_records, provisioned
from tenantmail.domain.job import EmailJob, JobStatus
from tenantmail.domain.suppression import SuppressionEntry, SuppressionOrigin, SuppressionReason
from tenantmail.entrypoints.api.app import create_app
from tests.app_fixtures import TEST_API_KEY

XSS_NAME = '<script>alert("name")</script>'
XSS_SUBJECT = "<img src=x onerror=alert(1)> & more"


@pytest.fixture
async def browser(app_container: Container, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on the console, against an emptied database (``engine`` cleans it)."""
    transport = httpx.ASGITransport(app=create_app(container=app_container))
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test", timeout=30) as client:
        yield client


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"


async def login(browser: httpx.AsyncClient, key: str = TEST_API_KEY, operator: str = "ada") -> httpx.Response:
    return await browser.post("/console/login", data={"api_key": key, "operator": operator, "next": "/console/"})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def seed_configuration(
    app: Container, tenant: str, *, operational: Operational = Operational.PENDING,
    administrative: Administrative = Administrative.LOCKED, from_name: str = "Acme Shop",
) -> EmailConfiguration:
    config = EmailConfiguration.create(
        tenant_id=tenant, slug=f"s{uuid.uuid4().hex[:12]}", mail_zone_name=app.settings.effective_mail_zone_name,
        signature=Signature("noreply", from_name), now=app.ctx.clock(),
    )
    async with app.ctx.uow(tenant) as uow:
        await uow.configurations.add(config, author="seed", cause="create")
        if (operational, administrative) != (config.operational, config.administrative):
            config.operational, config.administrative = operational, administrative
            await uow.configurations.save(config, author="seed", cause="test-setup")
        await uow.commit()
    return config


async def seed_job(app: Container, config: EmailConfiguration, *, subject: str = "Your order",
                   status: JobStatus = JobStatus.QUEUED) -> EmailJob:
    job = EmailJob.queue(
        tenant_id=config.tenant_id, configuration_e_id=config.e_id, recipient="buyer@example.com",
        subject=subject, idempotency_key=uuid.uuid4().hex, now=app.ctx.clock(), text_body="hello",
    )
    job.move(status, app.ctx.clock())
    async with app.ctx.uow(config.tenant_id) as uow:
        await uow.jobs.add(job)
        await uow.commit()
    return job


async def seed_suppressions(app: Container, tenant: str) -> None:
    """A hard bounce (removable) and a spam complaint (permanent)."""
    async with app.ctx.uow(tenant) as uow:
        for recipient, reason in (("gone@example.com", SuppressionReason.HARD_BOUNCE),
                                  ("angry@example.com", SuppressionReason.SPAM_COMPLAINT)):
            await uow.suppressions.add_if_absent(SuppressionEntry.new(
                tenant_id=tenant, recipient=recipient, reason=reason, origin=SuppressionOrigin.WEBHOOK,
                now=app.ctx.clock(),
            ))
        await uow.commit()


async def configuration_states(app: Container, tenant: str, e_id: str) -> tuple[Operational, Administrative]:
    async with app.ctx.uow(tenant) as uow:
        config = await uow.configurations.get(e_id)
    return config.operational, config.administrative


# --- login, session, logout ----------------------------------------------------------------------


async def test_every_page_redirects_to_login_without_a_session(browser: httpx.AsyncClient, tenant: str) -> None:
    response = await browser.get(f"/console/t/{tenant}/configurations")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")
    login_page = await browser.get(response.headers["location"])
    assert login_page.status_code == 200 and 'name="api_key"' in login_page.text


async def test_login_with_a_wrong_key_is_refused_without_a_cookie(browser: httpx.AsyncClient) -> None:
    response = await login(browser, key="not-the-key-at-all-0000")

    assert response.status_code == 401
    assert "That API key is not valid." in response.text
    assert "set-cookie" not in response.headers


async def test_login_sets_an_httponly_strict_signed_cookie_not_holding_the_key(browser: httpx.AsyncClient) -> None:
    response = await login(browser)

    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert TEST_API_KEY not in cookie
    home = await browser.get("/console/")
    assert home.status_code == 200 and "<h1>Tenants" in home.text and "ada" in home.text


async def test_a_tampered_session_cookie_is_not_accepted(browser: httpx.AsyncClient) -> None:
    await login(browser)
    value = browser.cookies["tenantmail_console"]
    body, _, mac = value.partition(".")
    browser.cookies.clear()
    browser.cookies.set("tenantmail_console", f"{body}.{mac[::-1]}", domain="console.test", path="/console")

    assert (await browser.get("/console/")).status_code == 303


async def test_a_session_expires_after_its_lifetime(browser: httpx.AsyncClient, app_container: Container) -> None:
    await login(browser)
    later = app_container.ctx.clock() + timedelta(hours=9)
    object.__setattr__(app_container.ctx, "clock", lambda: later)

    assert (await browser.get("/console/")).status_code == 303


async def test_logout_needs_the_csrf_token_and_then_ends_the_session(browser: httpx.AsyncClient) -> None:
    await login(browser)
    token = csrf_of((await browser.get("/console/")).text)

    assert (await browser.post("/console/logout", data={})).status_code == 403
    response = await browser.post("/console/logout", data={"csrf": token})
    assert response.status_code == 303
    assert (await browser.get("/console/")).status_code == 303


async def test_the_tenant_list_links_every_tenant_and_onboarding_refuses_a_bad_tenant_id(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    await seed_configuration(app_container, tenant)
    await login(browser)

    home = await browser.get("/console/")
    assert f'href="/console/t/{tenant}/configurations"' in home.text
    bad = await browser.post("/console/onboard", data={
        "csrf": csrf_of(home.text), "tenant": "no spaces/allowed", "slug": "x", "from_name": "X"})
    assert bad.status_code == 400 and "A tenant id is" in bad.text


# --- pages ---------------------------------------------------------------------------------------


async def test_configurations_page_counts_states_and_filters(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    pending = await seed_configuration(app_container, tenant)
    missing = await seed_configuration(app_container, tenant, operational=Operational.MISSING)
    await login(browser)

    page = (await browser.get(f"/console/t/{tenant}/configurations")).text
    assert pending.sending_domain in page and missing.sending_domain in page
    assert "?operational=MISSING&amp;administrative=LOCKED" in page and ">PENDING</span>" in page

    only_missing = await browser.get(f"/console/t/{tenant}/configurations", params={"operational": "MISSING"})
    assert missing.sending_domain in only_missing.text and pending.sending_domain not in only_missing.text
    unknown = await browser.get(f"/console/t/{tenant}/configurations", params={"operational": "SIDEWAYS"})
    assert unknown.status_code == 400


async def test_configurations_page_paginates(browser: httpx.AsyncClient, app_container: Container, tenant: str) -> None:
    for _ in range(51):
        await seed_configuration(app_container, tenant)
    await login(browser)

    first = (await browser.get(f"/console/t/{tenant}/configurations")).text
    second = (await browser.get(f"/console/t/{tenant}/configurations", params={"page": 2})).text
    assert "51 in all · page 1 of 2" in first and "next →" in first
    assert "page 2 of 2" in second and second.count("/console/t/" + tenant + "/configurations/") == 1


async def test_configuration_page_shows_history_and_only_allowed_signals(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant, operational=Operational.MISSING)
    await login(browser)

    page = (await browser.get(f"/console/t/{tenant}/configurations/{config.e_id}")).text

    assert config.sending_domain in page and "test-setup" in page and "seed" in page
    assert "PENDING → MISSING" in page  # the history row shows what changed
    buttons = re.findall(r"/signal/([a-z-]+)\"", page)
    assert sorted(buttons) == ["force-lock", "re-provision", "remove", "unlock"]  # LOCKED: lock would change nothing


async def test_tenant_supplied_text_is_escaped_everywhere(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant, from_name=XSS_NAME)
    job = await seed_job(app_container, config, subject=XSS_SUBJECT)
    await login(browser)

    pages = [
        (await browser.get(f"/console/t/{tenant}/configurations")).text,
        (await browser.get(f"/console/t/{tenant}/configurations/{config.e_id}")).text,
        (await browser.get(f"/console/t/{tenant}/jobs")).text,
        (await browser.get(f"/console/t/{tenant}/jobs/{job.e_id}")).text,
    ]
    for page in pages:
        assert "<script>" not in page and "<img src=x" not in page
    assert str(escape(XSS_NAME)) in pages[0]
    assert str(escape(XSS_SUBJECT)) in pages[3]


async def test_pages_forbid_scripts_and_framing(browser: httpx.AsyncClient) -> None:
    await login(browser)
    response = await browser.get("/console/")

    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"


async def test_jobs_filter_by_status_and_a_job_page_shows_its_events(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    delivered = await seed_job(app_container, config, subject="Delivered one", status=JobStatus.DELIVERED)
    await seed_job(app_container, config, subject="Still queued")
    event = DeliveryEvent(
        record_type="Delivery", kind=EventKind.DELIVERY, message_id="pm-123", recipient="buyer@example.com",
        occurred_at=app_container.ctx.clock(), job_e_id=delivered.e_id, payload={"Details": "<b>250 OK</b>"},
    )
    async with app_container.ctx.uow(tenant) as uow:
        await uow.events.add(event, configuration_e_id=config.e_id, job_e_id=delivered.e_id,
                             received_at=app_container.ctx.clock())
        await uow.commit()
    await login(browser)

    listed = (await browser.get(f"/console/t/{tenant}/jobs", params={"status": "DELIVERED"})).text
    assert "Delivered one" in listed and "Still queued" not in listed
    page = (await browser.get(f"/console/t/{tenant}/jobs/{delivered.e_id}")).text
    assert "b-delivery" in page and "&lt;b&gt;250 OK&lt;/b&gt;" in page


async def test_another_tenants_records_are_404_pages(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    job = await seed_job(app_container, config)
    await login(browser)

    for path in (f"configurations/{config.e_id}", f"jobs/{job.e_id}"):
        response = await browser.get(f"/console/t/other-{tenant}/{path}")
        assert response.status_code == 404
        assert "not found" in response.text and config.sending_domain not in response.text


async def test_suppressions_page_lists_live_entries(browser: httpx.AsyncClient, app_container: Container, tenant: str) -> None:
    await seed_suppressions(app_container, tenant)
    await login(browser)

    page = (await browser.get(f"/console/t/{tenant}/suppressions")).text

    assert "gone@example.com" in page and "angry@example.com" in page
    assert page.count(">Remove…") == 2  # each leads to the confirm step, which explains a refusal
    assert "spam complaint: permanent" in page
    confirm = await browser.get(f"/console/t/{tenant}/suppressions/remove", params={"recipient": "angry@example.com"})
    assert "cannot be lifted" in confirm.text and "Yes, remove it" not in confirm.text


async def test_drift_page_shows_the_latest_report(browser: httpx.AsyncClient, app_container: Container, tenant: str) -> None:
    now = app_container.ctx.clock()
    finding = Discrepancy(DriftTag.DNS_MISSING_RECORD, "pm-bounces.x.dev.ardamails.com", "cfg-1", tenant,
                          expected="CNAME pm.mtasv.net", actual=None)
    for started, found in ((now - timedelta(hours=1), ()), (now, (finding,))):
        await app_container.ctx.drift_reports.save(DriftReport(
            id=str(uuid.uuid4()), started_at=started, finished_at=started + timedelta(seconds=2),
            status=RunStatus.DRIFT if found else RunStatus.CLEAN, enabled=tuple(DriftTag),
            configurations_checked=3, discrepancies=found,
        ))
    await login(browser)

    page = (await browser.get("/console/drift")).text

    assert "b-drift" in page and "pm-bounces.x.dev.ardamails.com" in page and "CNAME pm.mtasv.net" in page
    assert f"/console/t/{tenant}/configurations/cfg-1" in page


# --- signals -------------------------------------------------------------------------------------


async def test_a_signal_without_the_csrf_token_is_refused_and_changes_nothing(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    await login(browser)

    response = await browser.post(f"/console/t/{tenant}/configurations/{config.e_id}/signal/unlock", data={})
    forged = await browser.post(
        f"/console/t/{tenant}/configurations/{config.e_id}/signal/unlock", data={"csrf": "forged"},
    )

    assert response.status_code == 403 and forged.status_code == 403
    assert await configuration_states(app_container, tenant, config.e_id) == (
        Operational.PENDING, Administrative.LOCKED,
    )


async def test_a_signal_with_the_csrf_token_goes_through_the_lifecycle_service(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    await login(browser)
    page = f"/console/t/{tenant}/configurations/{config.e_id}"
    token = csrf_of((await browser.get(page)).text)

    response = await browser.post(f"{page}/signal/unlock", data={"csrf": token})

    assert response.status_code == 303 and response.headers["location"] == page
    assert await configuration_states(app_container, tenant, config.e_id) == (
        Operational.PENDING, Administrative.UNLOCKED,
    )
    history = (await browser.get(page)).text
    assert "console:ada" in history and "LOCKED → UNLOCKED" in history


async def test_a_refused_signal_shows_the_409_message(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    await login(browser)
    page = f"/console/t/{tenant}/configurations/{config.e_id}"
    token = csrf_of((await browser.get(page)).text)

    response = await browser.post(f"{page}/signal/re-verify", data={"csrf": token})

    assert response.status_code == 409
    assert "signal &#39;re-verify&#39; is not allowed while the configuration is PENDING and LOCKED" in response.text
    assert await configuration_states(app_container, tenant, config.e_id) == (
        Operational.PENDING, Administrative.LOCKED,
    )


async def test_an_irreversible_signal_needs_the_confirmation_tick(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    await login(browser)
    page = f"/console/t/{tenant}/configurations/{config.e_id}"
    token = csrf_of((await browser.get(page)).text)

    unconfirmed = await browser.post(f"{page}/signal/remove", data={"csrf": token})
    confirmed = await browser.post(f"{page}/signal/remove", data={"csrf": token, "confirm": "yes"})

    assert unconfirmed.status_code == 400 and "cannot be undone" in unconfirmed.text
    assert confirmed.status_code == 303
    assert (await configuration_states(app_container, tenant, config.e_id))[0] is Operational.REMOVED


async def test_removing_a_suppression_lifts_it_but_a_spam_complaint_stays(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    await seed_suppressions(app_container, tenant)
    await login(browser)
    listing = f"/console/t/{tenant}/suppressions"
    token = csrf_of((await browser.get(listing)).text)

    unconfirmed = await browser.post(f"{listing}/remove", data={"csrf": token, "recipient": "gone@example.com"})
    lifted = await browser.post(f"{listing}/remove", data={"csrf": token, "recipient": "Gone@Example.com", "confirm": "yes"})
    refused = await browser.post(f"{listing}/remove", data={"csrf": token, "recipient": "angry@example.com", "confirm": "yes"})

    assert unconfirmed.status_code == 400 and "Confirm the removal" in unconfirmed.text
    assert lifted.status_code == 303
    assert refused.status_code == 409 and "cannot be lifted" in refused.text
    page = (await browser.get(listing)).text
    assert "gone@example.com" not in page and "angry@example.com" in page


async def test_login_never_redirects_outside_the_console(browser: httpx.AsyncClient) -> None:
    response = await browser.post(
        "/console/login", data={"api_key": TEST_API_KEY, "next": "//evil.example/console/"},
    )

    assert response.status_code == 303 and response.headers["location"] == "/console/"


async def test_the_drift_page_plans_and_applies_repairs_with_the_operator_as_author(
    browser: httpx.AsyncClient, app_container: Container,
) -> None:
    config = await provisioned(app_container, f"s{uuid.uuid4().hex[:10]}")
    dkim, _ = expected_records(config)
    await app_container.ctx.dns.delete_records([dkim])
    await login(browser, operator="grace")
    page = (await browser.get("/console/drift")).text
    form = {"csrf": csrf_of(page), "servers": "", "domains": ""}

    planned = await browser.post("/console/drift/repair", data={**form, "action": "plan"})
    assert planned.status_code == 200 and "upsert_dns" in planned.text and "nothing was changed" in planned.text
    unconfirmed = await browser.post("/console/drift/repair", data={**form, "action": "apply"})
    assert unconfirmed.status_code == 400 and "confirmation" in unconfirmed.text
    bad_ids = await browser.post("/console/drift/repair", data={**form, "servers": "x1", "action": "plan"})
    assert bad_ids.status_code == 400
    assert (await browser.post("/console/drift/repair", data={**form, "csrf": "forged", "action": "plan"})).status_code == 403
    assert (dkim.name, "TXT") not in {(r.name, r.type) for r in await app_container.ctx.dns.list_records()}

    applied = await browser.post("/console/drift/repair", data={**form, "action": "apply", "confirm": "yes"})
    assert applied.status_code == 200 and "b-applied" in applied.text
    assert (dkim.name, "TXT") in {(r.name, r.type) for r in await app_container.ctx.dns.list_records()}
    async with app_container.ctx.uow(config.tenant_id) as uow:
        versions, _ = await uow.configurations.versions(config.e_id)
    assert (versions[-1].cause, versions[-1].author) == ("drift-repair:dns_missing_record", "console:grace")
    again = await browser.post("/console/drift/repair", data={**form, "action": "apply", "confirm": "yes"})
    assert "Nothing to repair." in again.text


# --- issue 21: onboarding, test send, message frame, activity --------------------------------------


async def test_onboarding_refuses_a_slug_in_use_next_to_the_form_and_creates_nothing(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    taken = await seed_configuration(app_container, tenant)
    await login(browser)
    token = csrf_of((await browser.get("/console/")).text)

    refused = await browser.post("/console/onboard", data={
        "csrf": token, "tenant": "other-tenant", "slug": taken.sending_domain_slug, "from_name": "Other"})
    created = await browser.post("/console/onboard", data={
        "csrf": token, "tenant": tenant, "slug": "fresh-slug", "from_name": "Fresh"})

    assert refused.status_code == 409 and 'value="Other"' in refused.text  # the form keeps what was typed
    async with app_container.ctx.uow("other-tenant") as uow:
        assert (await uow.configurations.list(limit=5, offset=0))[1] == 0
    assert created.status_code == 303 and "tenantmail_console_notice" in created.headers["set-cookie"]
    page = await browser.get(created.headers["location"])
    assert "created (PENDING, LOCKED)" in page.text
    again = await browser.get(created.headers["location"])
    assert "created (PENDING, LOCKED)" not in again.text  # the confirmation is shown once


async def test_a_test_send_from_a_locked_configuration_is_refused_on_its_page(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant, operational=Operational.OK)
    await login(browser)
    token = csrf_of((await browser.get(f"/console/t/{tenant}/configurations/{config.e_id}")).text)

    refused = await browser.post(f"/console/t/{tenant}/configurations/{config.e_id}/test-send", data={
        "csrf": token, "recipient": "buyer@example.com", "subject": "hi", "text": "hello"})

    assert refused.status_code == 409
    async with app_container.ctx.uow(tenant) as uow:
        assert (await uow.jobs.list())[1] == 0


async def test_the_html_body_is_served_sanitised_with_a_frame_only_policy(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    job = EmailJob.queue(tenant_id=tenant, configuration_e_id=config.e_id, recipient="a@example.com", subject="s",
                         idempotency_key="k-html", now=app_container.ctx.clock(),
                         html_body='<p onclick="x()">Hi <a href="https://t.example/x">link</a></p><script>x()</script>')
    async with app_container.ctx.uow(tenant) as uow:
        await uow.jobs.add(job)
        await uow.commit()
    await login(browser)

    detail = await browser.get(f"/console/t/{tenant}/jobs/{job.e_id}")
    frame = await browser.get(f"/console/t/{tenant}/jobs/{job.e_id}/html")

    assert "frame-src 'self'" in detail.headers["content-security-policy"]
    assert f'src="/console/t/{tenant}/jobs/{job.e_id}/html"' in detail.text and 'sandbox=""' in detail.text
    assert "<script" not in frame.text and "onclick" not in frame.text and "t.example" not in frame.text
    assert "<p>Hi <a" in frame.text
    policy = frame.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "frame-ancestors 'self'" in policy


async def test_the_activity_feed_refuses_a_bad_time_as_a_page(browser: httpx.AsyncClient) -> None:
    await login(browser)
    response = await browser.get("/console/activity", params={"from": "yesterday"})
    assert response.status_code == 400 and "From must be a date and time" in response.text


async def test_a_configuration_in_failure_shows_its_last_error_next_to_re_verify(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant, operational=Operational.FAILURE)
    async with app_container.ctx.uow(tenant) as uow:
        stored = await uow.configurations.get(config.e_id)
        stored.last_error = LastError("send", "401", "Bad or missing server token")
        await uow.configurations.save(stored, author="seed", cause="test-setup")
        await uow.commit()
    await login(browser)

    page = (await browser.get(f"/console/t/{tenant}/configurations/{config.e_id}")).text

    alert = page.index('role="alert"')
    assert "Bad or missing server token" in page[alert:alert + 300]
    assert page.index(">re-verify</button>") > alert
    assert "health-check a configuration in FAILURE" in page


# --- issue 20: tags on the jobs page, the send quotas page -----------------------------------------


async def test_the_jobs_page_shows_tags_and_filters_by_tag(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    config = await seed_configuration(app_container, tenant)
    tagged = await seed_job(app_container, config, subject="Welcome")
    await seed_job(app_container, config, subject="Invoice")
    async with app_container.ctx.uow(tenant) as uow:
        tagged.tag, tagged.metadata = "welcome-<b>", {"plan": "pro"}
        await uow.jobs.save(tagged)
        await uow.commit()
    await login(browser)
    everything = (await browser.get(f"/console/t/{tenant}/jobs")).text
    assert "welcome-&lt;b&gt;" in everything and "Invoice" in everything
    filtered = (await browser.get(f"/console/t/{tenant}/jobs", params={"tag": "welcome-<b>"})).text
    assert "Welcome" in filtered and "Invoice" not in filtered
    assert (await browser.get(f"/console/t/{tenant}/jobs", params={"tag": "x" * 1001})).status_code == 400
    detail = (await browser.get(f"/console/t/{tenant}/jobs/{tagged.e_id}")).text
    assert "plan=pro" in detail


async def test_the_limits_page_shows_and_replaces_the_quotas(
    browser: httpx.AsyncClient, app_container: Container, tenant: str,
) -> None:
    await login(browser)
    page = (await browser.get(f"/console/t/{tenant}/limits")).text
    assert str(app_container.settings.quota_burst) in page
    saved = await browser.post(f"/console/t/{tenant}/limits",
                               data={"csrf": csrf_of(page), "sends_per_second": "7", "burst": "", "sends_per_day": ""})
    assert saved.status_code == 303
    async with app_container.ctx.uow(tenant) as uow:
        overrides, author, _ = await uow.tenant_quotas.limits()
    assert overrides.sends_per_second == 7 and overrides.burst is None and author == "console:ada"
    refused = await browser.post(f"/console/t/{tenant}/limits",
                                 data={"csrf": csrf_of(page), "sends_per_second": "-1", "burst": "", "sends_per_day": ""})
    assert refused.status_code == 400 and "sendsPerSecond" in refused.text
    without_csrf = await browser.post(f"/console/t/{tenant}/limits", data={"sends_per_second": "1"})
    assert without_csrf.status_code in (400, 403)
