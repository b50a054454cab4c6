"""Configuration pages: states at a glance, the list, one configuration with history and signals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tenantmail.domain.configuration import (
    Administrative,
    Authentication,
    EmailConfiguration,
    Operational,
    ProvisioningStep,
    Signal,
)
from tenantmail.domain.drift import Discrepancy, DriftTag
from tenantmail.domain.errors import Conflict, DomainError, IllegalSignal, UpstreamUnavailable
from tenantmail.domain.send_request import SendRequest
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.api.schemas_job import job_envelope
from tenantmail.entrypoints.console.auth import ConsoleTenant, CsrfForm, OperatorSession
from tenantmail.entrypoints.console.web import ConsoleRoute, Pager, choice, done, page_param, render
from tenantmail.services.apply_signal import apply_signal
from tenantmail.services.submit_send import submit_send

router = APIRouter(route_class=ConsoleRoute)

#: Signals that cannot be taken back: their button needs an explicit confirmation tick.
IRREVERSIBLE = frozenset({Signal.FORCE_LOCK, Signal.REMOVE})
#: What each signal does, next to its button (SPEC §3).
SIGNAL_HELP = {
    Signal.PROVISION: "Create the Postmark server, sender signature and webhook, then publish the DNS records.",
    Signal.RE_PROVISION: "Clean up what is left at Postmark and provision again (after a failure).",
    Signal.RE_VERIFY: "Start a fresh verification window, or health-check a configuration in FAILURE.",
    Signal.LOCK: "Refuse new sends; queued jobs still go out.",
    Signal.FORCE_LOCK: "Refuse new sends and cancel every queued job now. Cannot be undone.",
    Signal.UNLOCK: "Allow sends (at most one configuration of a tenant is unlocked and sendable).",
    Signal.REMOVE: "Delete the webhook, signature, server and DNS records; frees the slug. Cannot be undone.",
}
#: What a drift finding means for the configuration it concerns, in an operator's words.
DRIFT_MEANING = {
    DriftTag.POSTMARK_ORPHAN_DB_ROW: "Its Postmark server (or Domain) is gone: nothing can be sent, whatever the states say.",
    DriftTag.REGISTRY_MISSING_KEY: "Its server token is encrypted under a key the registry no longer holds.",
    DriftTag.DNS_MISSING_RECORD: "A DNS record it needs is missing from the zone.",
    DriftTag.DNS_VALUE_MISMATCH: "A DNS record in the zone has another value than Postmark expects.",
}
#: Operational states the provisioning job or verification polling moves on their own: the page
#: reloads itself while in them (a meta refresh, no script).
IN_PROGRESS = frozenset({Operational.PROVISIONING, Operational.AWAITING_VERIFICATION})
REFRESH_SECONDS = 3
#: History fields that change on every version and say nothing by themselves.
UNINFORMATIVE = frozenset({"version", "updated_at"})


def allowed_signals(config: EmailConfiguration) -> list[Signal]:
    """The signals the transition table allows from the configuration's current states."""
    allowed = []
    for signal in Signal:
        try:
            config.check(signal)
        except IllegalSignal:
            continue
        allowed.append(signal)
    return allowed


def history_rows(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version with what it changed from the previous one, newest first."""
    rows, previous = [], {}
    for version in versions:
        payload = version["payload"]
        changes = [
            (name, previous.get(name), value) for name, value in payload.items()
            if name not in UNINFORMATIVE and previous and previous.get(name) != value
        ]
        rows.append({**version, "changes": changes})
        previous = payload
    return rows[::-1]


def provisioning_steps(config: EmailConfiguration) -> list[tuple[str, str]]:
    """(step, done | running | waiting) for the provisioning steps, then DNS and verification."""
    resource = (ProvisioningStep.CREATE_DOMAIN if config.authentication is Authentication.DOMAIN
                else ProvisioningStep.CREATE_SIGNATURE)
    recorded = {
        ProvisioningStep.CREATE_SERVER: config.server_id is not None,
        resource: (config.domain_id if resource is ProvisioningStep.CREATE_DOMAIN else config.signature_id) is not None,
        ProvisioningStep.INSTALL_WEBHOOK: config.webhook_id is not None,
        ProvisioningStep.WRITE_RECORDS: config.dns is not None and config.verification_started_at is not None,
    }
    running = config.next_provisioning_step
    steps = [(step.value, "done" if finished else "running" if step is running else "waiting")
             for step, finished in recorded.items()]
    verifying = config.operational is Operational.AWAITING_VERIFICATION
    steps.append(("verification", "done" if config.verified_at else "running" if verifying else "waiting"))
    return steps


async def drift_findings(app: ContainerDep) -> dict[str, list[Discrepancy]]:
    """The open findings of the latest drift report, by configuration eId."""
    report = await app.ctx.drift_reports.latest()
    found: dict[str, list[Discrepancy]] = {}
    for finding in report.discrepancies if report else ():
        if finding.configuration_e_id:
            found.setdefault(finding.configuration_e_id, []).append(finding)
    return found


@router.get("/t/{tenant}/configurations", name="console.configurations")
async def configurations(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, pager: Annotated[Pager, Depends(page_param)],
    operational: Annotated[str, Query()] = "", administrative: Annotated[str, Query()] = "",
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        counts = await uow.configurations.count_by_state()
        items, total = await uow.configurations.list(
            operational=choice(operational, Operational, "operational state"),
            administrative=choice(administrative, Administrative, "administrative state"),
            limit=pager.size, offset=pager.offset,
        )
    return render(
        request, "configurations.html", section="configurations", tenant=tenant, counts=sorted(counts.items()),
        items=items, pager=pager.of(total), operational=operational, administrative=administrative,
        operational_states=list(Operational), administrative_states=list(Administrative),
        drift=await drift_findings(app),
    )


async def _configuration_page(
    request: Request, app: ContainerDep, tenant: str, e_id: str, *, status: int = 200, refusal: str | None = None,
    send_error: str | None = None, send_form: dict[str, str] | None = None,
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        config = await uow.configurations.get(e_id)  # NotFound (also for another tenant's) → 404 page
        versions = await uow.configurations.history(e_id)
    return render(
        request, "configuration.html", http_status=status, section="configurations", tenant=tenant, config=config,
        history=history_rows(versions), signals=allowed_signals(config), irreversible=IRREVERSIBLE,
        signal_help=SIGNAL_HELP, refusal=refusal, steps=provisioning_steps(config),
        refresh=REFRESH_SECONDS if config.operational in IN_PROGRESS else None,
        findings=(await drift_findings(app)).get(config.e_id, []), drift_meaning=DRIFT_MEANING,
        send_error=send_error, send_form=send_form or {},
    )


@router.get("/t/{tenant}/configurations/{e_id}", name="console.configuration")
async def configuration(request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str) -> Response:
    return await _configuration_page(request, app, tenant, e_id)


@router.post("/t/{tenant}/configurations/{e_id}/signal/{signal}", name="console.signal")
async def send_signal(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str, signal: Signal,
    session: OperatorSession, form: CsrfForm,
) -> Response:
    """Send one lifecycle signal through the lifecycle service; a refusal is shown on the page."""
    if signal in IRREVERSIBLE and form.get("confirm") != "yes":
        refusal = f"'{signal}' cannot be undone: tick the confirmation box next to its button."
        return await _configuration_page(request, app, tenant, e_id, status=400, refusal=refusal)
    try:
        await apply_signal(app.ctx, tenant, e_id, signal, author=session.author)
    except (Conflict, UpstreamUnavailable) as exc:
        return await _configuration_page(request, app, tenant, e_id, status=exc.status, refusal=exc.message)
    url = request.url_for("console.configuration", tenant=tenant, e_id=e_id).path
    return done(request, url, f"Signal '{signal}' accepted.")


@router.post("/t/{tenant}/configurations/{e_id}/test-send", name="console.test_send")
async def test_send(
    request: Request, app: ContainerDep, tenant: ConsoleTenant, e_id: str, session: OperatorSession, form: CsrfForm,
) -> Response:
    """Queue a test email through the same validation and gates as ``POST /job``."""
    try:
        send = SendRequest.parse(
            configuration_e_id=e_id, recipient=form.get("recipient", ""),
            subject=form.get("subject", ""), text_body=form.get("text", ""),
        )
        submitted = await submit_send(app.ctx, tenant, idempotency_key=f"console-{uuid.uuid4()}", request=send,
                                      author=session.author, render=job_envelope)
    except DomainError as exc:  # 400 invalid, 403 suppressed, 404, 409 not sendable
        return await _configuration_page(request, app, tenant, e_id, status=exc.status,
                                         send_error=exc.message, send_form=form)
    url = request.url_for("console.job", tenant=tenant, e_id=submitted.body["eId"]).path
    return done(request, url, f"Test email to {send.recipient} queued; a worker sends it on its next pass.")
