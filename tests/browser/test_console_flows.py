"""An operator's flows through the console, in chromium with JavaScript off, each page checked by
axe-core (0 serious/critical violations) and, on request, photographed for docs/console.md."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Service, eventually

#: Under ``pytest -n``, every browser test runs in one worker: one serve and one chromium at a time.
pytestmark = pytest.mark.xdist_group("browser")

Check = Callable[[Any], None]
Shot = Callable[[Any, str], None]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def sendable_configuration(service: Service, tenant: str, *, from_name: str = "Acme Shop") -> dict[str, Any]:
    """Created, provisioned, verified and unlocked through the API (what onboarding does by hand)."""
    with service.api(tenant) as api:
        created = api.post("/configuration", json={"sendingDomainSlug": unique("shop"), "signature": {"fromName": from_name}})
        assert created.status_code == 201, created.text
        e_id = created.json()["eId"]
        assert api.post(f"/configuration/{e_id}/provision").status_code == 200
        eventually(lambda: api.get(f"/configuration/{e_id}").json()["payload"]["operationalStatus"] == "OK", timeout=60)
        unlocked = api.post(f"/configuration/{e_id}/unlock")
        assert unlocked.status_code == 200, unlocked.text
        return unlocked.json()


def send(service: Service, tenant: str, config: dict[str, Any], recipient: str, subject: str, **extra: Any) -> str:
    with service.api(tenant) as api:
        body = {"configurationEId": config["eId"], "recipient": recipient, "subject": subject, **extra}
        if "htmlBody" not in extra:
            body.setdefault("textBody", f"Hello {recipient}")
        queued = api.post("/job", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert queued.status_code == 202, queued.text
        return str(queued.json()["eId"])


def job_status(service: Service, tenant: str, e_id: str) -> dict[str, Any]:
    with service.api(tenant) as api:
        return api.get(f"/job/{e_id}").json()["payload"]


def reached(service: Service, tenant: str, e_id: str, *statuses: str) -> dict[str, Any]:
    return eventually(lambda: (p := job_status(service, tenant, e_id))["status"] in statuses and p, timeout=60)


@pytest.fixture(scope="module")
def shop(service: Service) -> Iterator[tuple[str, dict[str, Any]]]:
    """A tenant with a sendable configuration, shared by the module's flows."""
    tenant = unique("acme")
    yield tenant, sendable_configuration(service, tenant)


# --- 3. onboarding ------------------------------------------------------------------------------


def test_onboarding_create_provision_watch_unlock_and_send_a_test_email(
    page: Any, service: Service, accessible: Check, screenshot: Shot,
) -> None:
    tenant, slug = unique("northwind"), unique("nw")
    page.goto("/console/")
    page.get_by_label("Tenant id").fill(tenant)
    page.get_by_label("Sending domain slug").fill(slug)
    page.get_by_label("From name").fill("Northwind Traders")
    page.get_by_role("button", name="Create configuration").click()

    expect(page.get_by_role("status")).to_contain_text("created (PENDING, LOCKED)")
    expect(page.locator("h1")).to_contain_text(f"{slug}.")
    accessible(page)

    page.get_by_role("button", name="provision", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Signal 'provision' accepted")
    expect(page.get_by_role("heading", name=re.compile("Onboarding"))).to_be_visible()
    accessible(page)
    screenshot(page, "onboarding")

    # no script: the page reloads itself (meta refresh) until verification has finished
    expect(page.locator("h1 .b-ok")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("row", name=re.compile("DKIM TXT"))).to_be_visible()
    page.get_by_role("button", name="unlock", exact=True).click()
    expect(page.locator("h1 .b-unlocked")).to_be_visible()
    accessible(page)
    screenshot(page, "configuration")

    page.get_by_label("Recipient", exact=True).fill("Buyer@Example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.get_by_role("status")).to_contain_text("Test email to buyer@example.com queued")
    expect(page.locator("h1")).to_contain_text("tenantmail test")
    eventually(lambda: page.reload() and page.locator("h1 .b-delivered").count(), timeout=60)


def test_a_failed_provisioning_shows_its_last_error_and_re_provision_recovers(
    page: Any, service: Service, accessible: Check,
) -> None:
    tenant = unique("initech")
    with service.sandbox() as sandbox:
        sandbox.post("/faults", json={"kind": "error_code", "method": "POST", "path": "/senders", "error_code": 300})
    page.goto("/console/")
    page.get_by_label("Tenant id").fill(tenant)
    page.get_by_label("Sending domain slug").fill(unique("it"))
    page.get_by_label("From name").fill("Initech")
    page.get_by_role("button", name="Create configuration").click()
    page.get_by_role("button", name="provision", exact=True).click()

    expect(page.locator("h1 .b-missing")).to_be_visible(timeout=90_000)  # meta refresh until it settles
    expect(page.get_by_role("alert")).to_contain_text("createSignature")
    accessible(page)
    page.get_by_role("button", name="re-provision", exact=True).click()
    expect(page.locator("h1 .b-ok")).to_be_visible(timeout=90_000)


def test_a_configuration_in_failure_shows_its_last_error_and_re_verify_recovers_it(
    page: Any, service: Service, accessible: Check,
) -> None:
    tenant = unique("umbrella")
    config = sendable_configuration(service, tenant, from_name="Umbrella")
    with service.sandbox() as sandbox:  # Postmark refuses the server token, five times
        sandbox.post("/faults", json={"kind": "error_code", "method": "POST", "path": "/email", "error_code": 401,
                                      "count": 5})
    page.goto(f"/console/t/{tenant}/configurations/{config['eId']}")
    page.get_by_label("Recipient", exact=True).fill("buyer@example.com")
    page.get_by_role("button", name="Send test email").click()
    job_url = page.url

    page.goto(f"/console/t/{tenant}/configurations/{config['eId']}")
    eventually(lambda: page.reload() and page.locator("h1 .b-failure").count())
    expect(page.get_by_role("alert")).to_contain_text("401")
    accessible(page)
    page.get_by_role("button", name="re-verify", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Signal 're-verify' accepted")
    expect(page.locator("h1 .b-degraded, h1 .b-ok")).to_be_visible()
    page.goto(job_url)
    eventually(lambda: page.reload() and page.locator("h1 .b-sent, h1 .b-delivered").count())


# --- 1. tenants and activity --------------------------------------------------------------------


def test_tenant_list_and_cross_tenant_activity_search(
    page: Any, service: Service, shop: tuple[str, dict[str, Any]], accessible: Check, screenshot: Shot,
) -> None:
    tenant, config = shop
    invoice = send(service, tenant, config, "ap@example.com", "Invoice 1001 for March", tag="billing")
    welcome = send(service, tenant, config, "new.user@example.com", "Welcome aboard")
    message_id = reached(service, tenant, invoice, "SENT", "DELIVERED")["messageId"]
    reached(service, tenant, welcome, "SENT", "DELIVERED")

    page.goto("/console/")
    page.keyboard.press("Tab")  # focus order: the skip link, then the header, then the page
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("tenantmail")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Tenants")
    row = page.get_by_role("row", name=re.compile(tenant))
    expect(row).to_contain_text("OK")
    expect(row.locator("td.num").first).not_to_have_text("0")
    accessible(page)
    screenshot(page, "tenants")

    page.get_by_role("navigation").get_by_role("link", name="Activity", exact=True).click()
    page.get_by_label("Subject contains").fill("invoice")
    page.get_by_role("button", name="Search").click()
    results = page.locator("main tbody tr")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("ap@example.com")
    accessible(page)
    screenshot(page, "activity-search")

    page.get_by_label("Subject contains").fill("")
    page.get_by_label("MessageID").fill(message_id)
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    page.get_by_label("MessageID").fill("")
    page.get_by_label("Tag").fill("billing")
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    expect(results).to_contain_text("Invoice 1001")
    page.get_by_label("Tag").fill("")
    page.get_by_label("Recipient contains").fill("NEW.USER")
    page.get_by_label("Tenant", exact=True).fill(tenant)
    page.get_by_role("button", name="Search").click()
    expect(results).to_have_count(1)
    expect(results).to_contain_text("Welcome aboard")
    page.get_by_label("From (UTC)").fill("2999-01-01T00:00")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No message matches.")).to_be_visible()
    page.goto(f"/console/activity?tenant={tenant}&status=FAILED")
    expect(page.get_by_text("No message matches.")).to_be_visible()
    page.goto(f"/console/activity?tenant={tenant}")
    page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d")).first.click()
    expect(page.get_by_role("heading", name="Headers as sent")).to_be_visible()


# --- 2. message detail --------------------------------------------------------------------------

HOSTILE_HTML = (
    '<h1 onclick="alert(1)">Your order</h1><p>Thanks, <b>Ada</b>.</p>'
    "<script>document.title = 'pwned'</script>"
    '<img src="http://127.0.0.1:9/pixel.png" alt="tracker"><iframe src="http://127.0.0.1:9/"></iframe>'
)


def test_message_detail_headers_bodies_sandboxed_html_attachments_and_a_bounce(
    page: Any, service: Service, shop: tuple[str, dict[str, Any]], accessible: Check, screenshot: Shot,
) -> None:
    tenant, config = shop
    attachment = {"filename": "invoice.txt", "contentType": "text/plain",
                  "contentBase64": base64.b64encode(b"total: 42 EUR\n" * 40).decode()}
    rich = send(service, tenant, config, "ada@example.com", "Your order 77", htmlBody=HOSTILE_HTML,
                textBody="Thanks, Ada.", attachments=[attachment])
    with service.sandbox() as sandbox:
        sandbox.post("/recipient-rules", json={"pattern": "*@bounce.example", "outcome": "hard_bounce"})
    bounced = send(service, tenant, config, "dead@bounce.example", "Password reset")
    reached(service, tenant, rich, "DELIVERED")
    reached(service, tenant, bounced, "BOUNCED")

    remote: list[str] = []
    page.on("request", lambda request: remote.append(request.url) if ":9/" in request.url else None)
    page.goto(f"/console/t/{tenant}/jobs/{rich}")
    fields = page.locator("dl.fields").first
    expect(fields).to_contain_text("Acme Shop")
    expect(fields).to_contain_text("ada@example.com")
    expect(fields).to_contain_text(rich)  # Metadata tm_job
    expect(page.locator("pre.text")).to_have_text("Thanks, Ada.")
    frame = page.locator("iframe.body")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.body").locator("b")).to_have_text("Ada")
    framed = page.request.get(frame.get_attribute("src") or "")
    sanitised = framed.text()
    assert "<script" not in sanitised and "onclick" not in sanitised and "<iframe" not in sanitised
    assert "127.0.0.1:9" not in sanitised and 'alt="tracker"' in sanitised
    assert "img-src data:" in framed.headers["content-security-policy"]
    assert "sandbox" in framed.headers["content-security-policy"]
    expect(page.get_by_role("row", name=re.compile("invoice.txt"))).to_contain_text("560 Bytes")
    expect(page.get_by_role("row", name=re.compile("Delivery"))).to_be_visible()
    assert remote == [], f"the HTML body loaded {remote}"
    accessible(page)
    screenshot(page, "message-html")

    page.goto(f"/console/t/{tenant}/jobs/{bounced}")
    bounce = page.get_by_role("row", name=re.compile("HardBounce"))
    expect(bounce).to_contain_text("Bounce")
    accessible(page)
    screenshot(page, "message-detail")
    page.get_by_role("link", name="dead@bounce.example").click()
    expect(page.get_by_role("row", name=re.compile("dead@bounce.example"))).to_contain_text("HardBounce")
    page.get_by_role("navigation").get_by_role("link", name="Jobs").click()
    page.get_by_label("Status").select_option("BOUNCED")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main tbody tr")).to_have_count(1)
    accessible(page)


# --- 4. suppressions ----------------------------------------------------------------------------


def test_suppression_add_and_remove_with_confirmation_and_a_spam_complaint_refused(
    page: Any, service: Service, shop: tuple[str, dict[str, Any]], accessible: Check, screenshot: Shot,
) -> None:
    tenant, _ = shop
    page.goto(f"/console/t/{tenant}/suppressions")
    add = page.locator("form.stack")
    add.get_by_label("Recipient", exact=True).fill("someone@localhost")  # an address the browser accepts, we do not
    add.get_by_role("button", name="Suppress").click()
    expect(add.get_by_role("alert")).to_contain_text("recipient must be a single valid email address")
    accessible(page)

    add = page.locator("form.stack")
    add.get_by_label("Recipient", exact=True).fill("Ops@Example.com")
    add.get_by_role("button", name="Suppress").click()
    expect(page.get_by_role("status")).to_contain_text("ops@example.com is now suppressed (ManualSuppression)")
    accessible(page)
    screenshot(page, "suppression-added")

    page.get_by_role("row", name=re.compile("ops@example.com")).get_by_role("link", name=re.compile("Remove")).click()
    expect(page.locator("h1")).to_contain_text("ops@example.com")
    accessible(page)
    screenshot(page, "suppression-remove-confirm")
    page.get_by_role("button", name="Yes, remove it").click()
    expect(page.get_by_role("status")).to_contain_text("ops@example.com is no longer suppressed")
    expect(page.get_by_role("row", name=re.compile("ops@example.com"))).to_have_count(0)
    screenshot(page, "suppression-removed")

    page.locator("form.stack").get_by_label("Recipient", exact=True).fill("angry@example.com")
    page.locator("form.stack").get_by_label("Reason").select_option("SpamComplaint")
    page.locator("form.stack").get_by_role("button", name="Suppress").click()
    page.get_by_role("row", name=re.compile("angry@example.com")).get_by_role("link", name=re.compile("Remove")).click()
    expect(page.locator("main")).to_contain_text("A spam complaint cannot be lifted")
    expect(page.get_by_role("button", name="Yes, remove it")).to_have_count(0)


# --- 5. drift -----------------------------------------------------------------------------------


def test_a_configuration_whose_server_is_gone_shows_the_drift_warning_and_offers_repair(
    page: Any, service: Service, accessible: Check, screenshot: Shot,
) -> None:
    tenant = unique("globex")
    config = sendable_configuration(service, tenant, from_name="Globex")
    with service.sandbox() as sandbox:
        assert sandbox.delete(f"/servers/{config['payload']['postmark']['serverId']}").status_code == 200

    page.goto("/console/drift")
    page.get_by_role("button", name="Scan and plan repairs").click()
    expect(page.get_by_role("heading", name=re.compile("Repairs planned"))).to_be_visible()
    accessible(page)
    page.get_by_role("link", name=config["eId"]).first.click()

    expect(page.locator("h1")).to_contain_text("drift")
    warning = page.get_by_role("region", name=re.compile("Drift"))
    expect(warning).to_contain_text("email.drift.postmark_orphan_db_row")
    expect(warning.get_by_role("button", name="Scan and plan repairs")).to_be_visible()
    accessible(page)
    screenshot(page, "drift-warning")
    page.get_by_role("navigation").get_by_role("link", name="Configurations").click()
    expect(page.get_by_role("row", name=re.compile(config["eId"]))).to_contain_text("drift")
    accessible(page)


# --- errors are pages ---------------------------------------------------------------------------


def test_unknown_records_and_bad_input_answer_as_pages(page: Any, service: Service, accessible: Check) -> None:
    missing = page.goto(f"/console/t/acme/jobs/{uuid.uuid4()}")
    assert missing is not None and missing.status == 404
    expect(page.locator("h1")).to_contain_text("404")
    accessible(page)
    bad = page.goto("/console/activity?status=SIDEWAYS")
    assert bad is not None and bad.status == 400
    expect(page.get_by_role("alert")).to_contain_text("unknown job status")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Operator login")).to_be_visible()
    accessible(page)
