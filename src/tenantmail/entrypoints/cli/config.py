"""``tenantmail config``: create, read and drive configurations from a shell.

Commands call the services directly (no HTTP): ``list``, ``show``, ``history``, ``create``, ``edit``
(the From allow-list) and one command per lifecycle signal (``provision``, ``re-provision`` —
``--authentication domain`` migrates a signature configuration to a Postmark Domain —,
``re-verify``, ``lock``, ``force-lock``, ``unlock``, ``remove``). ``--json`` prints the same
envelopes as the API.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tenantmail.domain.bounds import MAX_OFFSET
from tenantmail.domain.configuration import (
    Administrative,
    Authentication,
    ConfigurationVersion,
    Operational,
    Signal,
)
from tenantmail.entrypoints.api.schemas_configuration import configuration_envelope, version_entry
from tenantmail.entrypoints.cli.output import (
    JsonOption,
    cli_app,
    err_console,
    print_json,
    print_record,
    print_table,
    run,
    tenant_option,
)
from tenantmail.services.apply_signal import apply_signal
from tenantmail.services.configuration_queries import (
    VersionPage,
    configuration_history,
    get_configuration,
    list_configurations,
)
from tenantmail.services.context import ServiceContext
from tenantmail.services.create_configuration import NewConfiguration, create_configuration
from tenantmail.services.edit_configuration import edit_allowed_from_local_parts

T = TypeVar("T")
app = typer.Typer(help="Email configurations: create, inspect, and send lifecycle signals.", no_args_is_help=True)
TenantOption = tenant_option("The tenant the configuration belongs to.")
AuthorOption = typer.Option(None, "--author", help="Recorded in history (default: cli:<login>).")
AllowedOption = typer.Option(
    None, "--allow-from", help="A local part sends may choose (fromLocalPart); repeat for several. "
    "Must include the signature's; more than that needs --authentication domain.")
EIdArgument = typer.Argument(..., help="The configuration's eId.")

SIGNAL_HELP = {
    Signal.PROVISION: "PENDING → PROVISIONING; a worker creates the Postmark server, signature, webhook and DNS.",
    Signal.RE_PROVISION: "MISSING → PROVISIONING after deleting what the failed attempt left; with "
    "--authentication domain, migrates a signature configuration to a Postmark Domain (also from OK…).",
    Signal.RE_VERIFY: "UNVERIFIED → a fresh verification window; FAILURE → health check → DEGRADED.",
    Signal.LOCK: "Refuse new sends; queued jobs still go out.",
    Signal.FORCE_LOCK: "Refuse new sends and cancel queued jobs at once.",
    Signal.UNLOCK: "Accept sends (when verified); at most one unlocked configuration per tenant.",
    Signal.REMOVE: "From LOCKED: delete webhook, signature, server and DNS records; frees the slug.",
}


def _author(author: str | None) -> str:
    return author or f"cli:{getpass.getuser()}"


def _call(use_case: Callable[[ServiceContext], Awaitable[T]]) -> T:
    async def body() -> T:
        async with cli_app() as container:
            return await use_case(container.ctx)

    return run(body)


def _summary(version: ConfigurationVersion) -> dict[str, Any]:
    """The envelope flattened into one readable record."""
    envelope = configuration_envelope(version)
    payload, dns, err = envelope["payload"], envelope["payload"]["dns"] or {}, envelope["payload"]["lastError"]
    return {
        "eId": envelope["eId"], "rId": envelope["rId"], "tenant": envelope["metadata"]["tenantId"],
        "sendingDomain": payload["sendingDomain"], "from": f'{payload["signature"]["fromName"]} <{payload["signature"]["fromEmail"]}>',
        "replyTo": payload["signature"]["replyToEmail"], "authentication": payload["authentication"],
        "allowedFromLocalParts": ", ".join(payload["allowedFromLocalParts"]),
        "operational": payload["operationalStatus"],
        "administrative": payload["administrativeStatus"], "sendable": payload["sendable"],
        **{f"postmark.{k}": v for k, v in payload["postmark"].items()},
        "dns.dkim": (dns.get("dkim") or {}).get("host"), "dns.returnPath": (dns.get("returnPath") or {}).get("host"),
        "verificationStartedAt": payload["verificationStartedAt"], "verifiedAt": payload["verifiedAt"],
        "lastError": f'{err["step"]} {err["code"]}: {err["message"]}' if err else None,
        "lastChangedBy": envelope["metadata"]["author"],
    }


def _show(version: ConfigurationVersion, as_json: bool) -> None:
    if as_json:
        print_json(configuration_envelope(version))
    else:
        print_record(f"configuration {version.config.e_id}", _summary(version))


@app.command("create")
def create(
    tenant: str = TenantOption,
    slug: str = typer.Option(..., "--slug", help="Sending-domain slug (a lower-case DNS label)."),
    from_name: str = typer.Option(..., "--from-name", help="Display name of the From address."),
    from_local_part: str = typer.Option(None, "--from-local-part", help="Default: noreply."),
    reply_to: str = typer.Option(None, "--reply-to", help="Default Reply-To (any domain)."),
    authentication: Authentication = typer.Option(
        Authentication.SIGNATURE, "--authentication",
        help="signature: one sender signature; domain: a Postmark Domain (several From local parts)."),
    allow_from: list[str] = AllowedOption,
    author: str = AuthorOption, as_json: bool = JsonOption,
) -> None:
    """Create a configuration (PENDING, LOCKED)."""
    request = NewConfiguration(slug=slug, from_name=from_name, from_local_part=from_local_part, reply_to_email=reply_to,
                               authentication=authentication, allowed_from_local_parts=tuple(allow_from or ()) or None)
    _show(_call(lambda ctx: create_configuration(ctx, tenant, request, author=_author(author))), as_json)


@app.command("list")
def list_command(
    tenant: str = TenantOption,
    operational: list[Operational] = typer.Option(None, "--operational", help="Repeat for several."),
    administrative: list[Administrative] = typer.Option(None, "--administrative", help="Repeat for several."),
    limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's configurations, oldest first."""
    page: VersionPage = _call(lambda ctx: list_configurations(
        ctx, tenant, operational=[s.value for s in operational or ()],
        administrative=[s.value for s in administrative or ()], limit=limit, offset=offset,
    ))
    if as_json:
        print_json({"items": [configuration_envelope(v) for v in page.items], "total": page.total,
                    "limit": limit, "offset": offset})
        return
    rows = ((v.config.e_id, v.config.sending_domain, v.config.operational, v.config.administrative,
             v.config.is_sendable, v.config.updated_at) for v in page.items)
    print_table(f"configurations of {tenant} ({len(page.items)} of {page.total})",
                ("eId", "sendingDomain", "operational", "administrative", "sendable", "updatedAt"), rows)


@app.command("show")
def show(e_id: str = EIdArgument, tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Show one configuration as it is now."""
    _show(_call(lambda ctx: get_configuration(ctx, tenant, e_id)), as_json)


@app.command("history")
def history(
    e_id: str = EIdArgument, tenant: str = TenantOption,
    limit: int = typer.Option(100, min=1, max=1000), offset: int = typer.Option(0, min=0, max=MAX_OFFSET),
    as_json: bool = JsonOption,
) -> None:
    """Every version of a configuration, oldest first: the audit log."""
    page: VersionPage = _call(lambda ctx: configuration_history(ctx, tenant, e_id, limit=limit, offset=offset))
    if as_json:
        print_json({"items": [version_entry(v) for v in page.items], "total": page.total,
                    "limit": limit, "offset": offset})
        return
    rows = ((v.recorded_at, v.author, v.cause, v.config.operational, v.config.administrative,
             v.config.last_error.code if v.config.last_error else "") for v in page.items)
    print_table(f"history of {e_id} ({page.total} versions)",
                ("recordedAt", "author", "signal", "operational", "administrative", "lastError"), rows)


@app.command("edit")
def edit(
    e_id: str = EIdArgument, tenant: str = TenantOption,
    allow_from: list[str] = typer.Option(..., "--allow-from", help="The new allow-list; repeat for each local part."),
    author: str = AuthorOption, as_json: bool = JsonOption,
) -> None:
    """Replace the local parts sends may choose (allowedFromLocalParts); recorded in history."""
    _show(_call(lambda ctx: edit_allowed_from_local_parts(ctx, tenant, e_id, list(allow_from), author=_author(author))),
          as_json)


#: Where provisioning ends, and the exit code ``--wait`` gives each (0 only for OK).
WAIT_OUTCOMES = {Operational.OK: 0, Operational.DEGRADED: 0, Operational.MISSING: 3, Operational.UNVERIFIED: 4}
WAIT_TIMED_OUT = 5
WAIT_OTHER = 1  #: it left the provisioning path another way (removed meanwhile, FAILURE, ...)
IN_PROGRESS = frozenset({Operational.PROVISIONING, Operational.AWAITING_VERIFICATION})
WAITING_SIGNALS = (Signal.PROVISION, Signal.RE_PROVISION, Signal.RE_VERIFY)
WORKER_HINT_SECONDS = 10.0

WaitOption = typer.Option(
    False, "--wait", help="Wait until provisioning ends, showing progress: exit 0 OK, 3 MISSING, "
    f"4 UNVERIFIED, {WAIT_TIMED_OUT} still in progress after --timeout.")
TimeoutOption = typer.Option(900.0, "--timeout", min=0, help="With --wait: give up after this many seconds (0: never).")


async def _wait(ctx: ServiceContext, tenant: str, version: ConfigurationVersion, timeout: float,
                progress: Callable[[ConfigurationVersion, float], None]) -> ConfigurationVersion:
    """Poll the configuration until it leaves PROVISIONING / AWAITING_VERIFICATION (or time is up)."""
    started = time.monotonic()
    while version.config.operational in IN_PROGRESS:
        elapsed = time.monotonic() - started
        progress(version, elapsed)
        if timeout and elapsed >= timeout:
            break
        await asyncio.sleep(min(1.0, max(ctx.settings.worker_poll_seconds, 0.2)))
        version = await get_configuration(ctx, tenant, version.config.e_id)
    return version


def _progress_line(version: ConfigurationVersion, elapsed: float) -> str:
    config = version.config
    if config.operational is Operational.PROVISIONING:
        step = config.next_provisioning_step
        text = f"PROVISIONING: {step.value if step else 'starting'}"
    else:
        text = "AWAITING_VERIFICATION: waiting for Postmark to see the DKIM and Return-Path records"
    if elapsed >= WORKER_HINT_SECONDS and config.operational is Operational.PROVISIONING:
        text += " (no progress? a worker does this: `tenantmail serve` runs one in the embedded default)"
    return escape(text)


def _signal_and_wait(tenant: str, e_id: str, signal: Signal, author: str, timeout: float,
                     as_json: bool, authentication: Authentication | None = None) -> ConfigurationVersion:
    async def body() -> ConfigurationVersion:
        async with cli_app() as container:
            ctx = container.ctx
            version = await apply_signal(ctx, tenant, e_id, signal, author=author, authentication=authentication)
            if as_json:
                return await _wait(ctx, tenant, version, timeout, lambda *_: None)
            seen: list[Operational] = []
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=err_console, transient=True) as bar:
                task = bar.add_task("")

                def show(current: ConfigurationVersion, elapsed: float) -> None:
                    if not seen or seen[-1] is not current.config.operational:
                        seen.append(current.config.operational)
                        bar.console.print(f"→ {current.config.operational.value}", highlight=False)
                    bar.update(task, description=_progress_line(current, elapsed))

                final = await _wait(ctx, tenant, version, timeout, show)
                if seen and seen[-1] is not final.config.operational:
                    bar.console.print(f"→ {final.config.operational.value}", highlight=False)
                return final

    return run(body)


def _exit_code(version: ConfigurationVersion) -> int:
    state = version.config.operational
    if state in IN_PROGRESS:
        return WAIT_TIMED_OUT
    return WAIT_OUTCOMES.get(state, WAIT_OTHER)


def _send_signal(e_id: str, tenant: str, signal: Signal, author: str | None, *, wait: bool, timeout: float,
            as_json: bool, authentication: Authentication | None = None) -> None:
    """Send ``signal``; with ``wait``, follow provisioning to its end and exit with its code."""
    if not wait:
        _show(_call(lambda ctx: apply_signal(ctx, tenant, e_id, signal, author=_author(author),
                                             authentication=authentication)), as_json)
        return
    version = _signal_and_wait(tenant, e_id, signal, _author(author), timeout, as_json, authentication)
    _show(version, as_json)
    code = _exit_code(version)
    if code == WAIT_TIMED_OUT and not as_json:
        err_console.print(f"still {version.config.operational.value} after {timeout:g} s; it goes on in the "
                          f"background: `tenantmail config show {e_id} --tenant {tenant}`", highlight=False,
                          markup=False)
    raise typer.Exit(code)


def _register_signal(signal: Signal) -> None:
    def command(e_id: str = EIdArgument, tenant: str = TenantOption, author: str = AuthorOption,
                as_json: bool = JsonOption) -> None:
        _show(_call(lambda ctx: apply_signal(ctx, tenant, e_id, signal, author=_author(author))), as_json)

    def waiting_command(e_id: str = EIdArgument, tenant: str = TenantOption, author: str = AuthorOption,
                        wait: bool = WaitOption, timeout: float = TimeoutOption, as_json: bool = JsonOption) -> None:
        _send_signal(e_id, tenant, signal, author, wait=wait, timeout=timeout, as_json=as_json)

    def re_provision(
        e_id: str = EIdArgument, tenant: str = TenantOption, author: str = AuthorOption,
        authentication: Authentication = typer.Option(
            None, "--authentication", help="domain: migrate a signature configuration to a Postmark Domain."),
        wait: bool = WaitOption, timeout: float = TimeoutOption, as_json: bool = JsonOption,
    ) -> None:
        _send_signal(e_id, tenant, signal, author, wait=wait, timeout=timeout, as_json=as_json,
                authentication=authentication)

    chosen = re_provision if signal is Signal.RE_PROVISION else (
        waiting_command if signal in WAITING_SIGNALS else command)
    chosen.__doc__ = SIGNAL_HELP[signal]
    app.command(signal.value)(chosen)


for _signal in Signal:
    _register_signal(_signal)
