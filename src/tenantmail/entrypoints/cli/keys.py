"""``tenantmail keys``: the encryption-key registry and its rotation (SPEC §9).

The usual rotation: ``keys rotate`` (or a new version projected by the secret store), then
``keys sweep`` (or wait for the workers' sweep tick), then ``keys remove-version OLD``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tenantmail.adapters.keyregistry import generate_registry_file, rotate_registry_file
from tenantmail.adapters.keyregistry import remove_version as remove_from_file
from tenantmail.entrypoints.cli.output import (
    EXIT_CANNOT_RUN,
    EXIT_REFUSED,
    JsonOption,
    cli_app,
    console,
    err_console,
    error,
    print_json,
    print_table,
    run,
)
from tenantmail.services import rotate_keys

app = typer.Typer(help="Encryption keys: status, rotate, sweep (re-encrypt + re-install webhooks), remove-version.")


@app.command()
def init(path: Path = typer.Argument(..., help="Where to write the new registry (must not exist)."),
         as_json: bool = JsonOption) -> None:
    """Write a new key registry with one random version (mode 0600), e.g. for a secret store.

    Needs no database: run it once per partition and hand the file to the service
    (TENANTMAIL_KEY_REGISTRY_FILE, or the mounted secret).
    """
    try:
        version = generate_registry_file(path)
    except FileExistsError:
        error("FileExists", f"{path} exists already; a registry is never overwritten", EXIT_REFUSED)
    except OSError as exc:
        error("CannotWrite", f"cannot write {path}: {exc.strerror or exc}", EXIT_CANNOT_RUN)
    if as_json:
        print_json({"path": str(path), "current": version})
    else:
        console.print(f"key registry written to {escape(str(path))} (current version {version})")


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """Registry versions, the current one, and how many stored tokens and notification signing
    secrets each version protects."""

    async def body() -> rotate_keys.KeyStatus:
        async with cli_app() as container:
            return await rotate_keys.key_status(container.ctx)

    _print_status(run(body), as_json)


@app.command()
def rotate(as_json: bool = JsonOption) -> None:
    """Add a new version to the registry file and make it current (file-based registries only).

    Where an external-secrets operator projects the file, rotate in the secret store instead.
    """

    async def body() -> rotate_keys.KeyStatus:
        async with cli_app() as container:
            rotate_registry_file(container.registry.path)
            container.registry.refresh()
            return await rotate_keys.key_status(container.ctx)

    result = run(body)
    if not as_json:
        console.print(f"new current version [bold]{escape(result.current)}[/bold]; run `tenantmail keys sweep` next")
    _print_status(result, as_json)


@app.command()
def sweep(as_json: bool = JsonOption) -> None:
    """Re-encrypt every stored token and notification signing secret onto the current version and
    re-install older webhook passwords.

    Safe to interrupt and run again: each row commits on its own and only rows not yet on the
    current version are selected.
    """

    async def body() -> rotate_keys.SweepResult:
        async with cli_app() as container:
            with _progress(enabled=not as_json) as progress:
                return await rotate_keys.sweep(container.ctx, progress=progress)

    result = run(body)
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"current version {escape(result.current)}: {result.reencrypted} token(s) and "
                  f"{result.secrets_reencrypted} notification endpoint(s)' secrets re-encrypted, "
                  f"{result.webhooks_reinstalled} webhook(s) re-installed")
    if result.skipped:
        print_table("Left for the next sweep", ("configuration or endpoint", "reason"), result.skipped.items())


@app.command("remove-version")
def remove_version(version: str, as_json: bool = JsonOption) -> None:
    """Remove a retired version from the registry file; refused while anything still uses it."""

    async def body() -> rotate_keys.KeyStatus:
        async with cli_app() as container:
            await rotate_keys.remove_version(
                container.ctx, version, lambda v: remove_from_file(container.registry.path, v)
            )
            container.registry.refresh()
            return await rotate_keys.key_status(container.ctx)

    result = run(body)
    if not as_json:
        console.print(f"version {escape(version)} removed")
    _print_status(result, as_json)


def _print_status(result: rotate_keys.KeyStatus, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    versions = result.versions + result.missing_versions
    print_table(
        "Key versions", ("version", "state", "stored tokens", "notification secrets"),
        ((v, _state(result, v), result.tokens_per_version.get(v, 0), result.secrets_per_version.get(v, 0))
         for v in versions),
    )
    console.print(f"webhooks still on an older password: {result.stale_webhooks}")


def _state(result: rotate_keys.KeyStatus, version: str) -> str:
    if version == result.current:
        return "current"
    return "MISSING from the registry" if version in result.missing_versions else "accepted"


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """Counters per phase on stderr (the total is unknown up front without a second scan)."""
    if not enabled:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        tasks = {phase: bar.add_task(label) for phase, label in
                 (("tokens", "tokens re-encrypted"), ("webhooks", "webhooks re-installed"))}
        yield lambda phase, done: bar.update(tasks[phase], completed=done)
