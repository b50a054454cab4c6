"""Configuration pages: states at a glance, the list, one configuration with history and signals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tenantmail.domain.configuration import Administrative, EmailConfiguration, Operational, Signal
from tenantmail.domain.errors import Conflict, IllegalSignal, UpstreamUnavailable
from tenantmail.entrypoints.api.deps import ContainerDep
from tenantmail.entrypoints.console.auth import ConsoleTenant, CsrfForm, OperatorSession
from tenantmail.entrypoints.console.web import ConsoleRoute, Pager, choice, page_param, redirect, render
from tenantmail.services.apply_signal import apply_signal

router = APIRouter(route_class=ConsoleRoute)

#: Signals that cannot be taken back: their button needs an explicit confirmation tick.
IRREVERSIBLE = frozenset({Signal.FORCE_LOCK, Signal.REMOVE})
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
        request, "configurations.html", section="configurations", tenant=tenant, counts=counts, items=items, pager=pager.of(total),
        operational=operational, administrative=administrative,
        operational_states=list(Operational), administrative_states=list(Administrative),
    )


async def _configuration_page(
    request: Request, app: ContainerDep, tenant: str, e_id: str, *, status: int = 200, refusal: str | None = None,
) -> Response:
    async with app.ctx.uow(tenant) as uow:
        config = await uow.configurations.get(e_id)  # NotFound (also for another tenant's) → 404 page
        versions = await uow.configurations.history(e_id)
    return render(
        request, "configuration.html", http_status=status, section="configurations", tenant=tenant, config=config,
        history=history_rows(versions), signals=allowed_signals(config), irreversible=IRREVERSIBLE,
        refusal=refusal,
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
    return redirect(request.url_for("console.configuration", tenant=tenant, e_id=e_id).path)
