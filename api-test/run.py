#!/usr/bin/env python3
"""Run the Bruno collection in this folder with the pinned Bruno CLI (``make api-test``).

    python3 api-test/run.py                     # against `make run` on this machine (embedded)
    python3 api-test/run.py --env deployment    # TENANTMAIL_URL, _API_KEY, _TENANT from the environment
    python3 api-test/run.py -- job --reporter-json out.json    # after --: arguments for `bru run`

The CLI (``@usebruno/cli``, the version ``package.json`` pins, exactly as ``package-lock.json``
resolves it) is installed into ``api-test/node_modules`` on first use with ``npm ci``.

Environments: ``embedded`` reads the API key (``api-key``) and the key registry's current secret
(``keys.json``, for the webhook's Basic password) from the embedded default's var directory
(``--var-dir``, default ``$TENANTMAIL_VAR_DIR`` or ``var``) unless ``TENANTMAIL_API_KEY`` /
``TENANTMAIL_KEY_MATERIAL`` are set; ``deployment`` takes ``TENANTMAIL_URL`` (the service root),
``TENANTMAIL_API_KEY`` and ``TENANTMAIL_TENANT`` from the environment, and
``TENANTMAIL_KEY_MATERIAL`` if set (the webhook requests are skipped without it).

Exit status: that of ``bru run`` (0 all green, 1 a failure); 2 a usage error; 3 no npm, or the
install failed. Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI_PACKAGE = "@usebruno/cli"
INSTALL_LOCK = HERE / ".install.lock"
DEPLOYMENT_VARIABLES = ("TENANTMAIL_URL", "TENANTMAIL_API_KEY", "TENANTMAIL_TENANT")


class Refused(Exception):
    """A reason not to run, for one line on stderr; ``status`` is the exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def pinned_version() -> str:
    return str(json.loads((HERE / "package.json").read_text())["devDependencies"][CLI_PACKAGE])


def installed_version() -> str | None:
    manifest = HERE / "node_modules" / CLI_PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def bru_executable() -> Path:
    """The pinned CLI, installed first if it is not (one installer at a time, across processes)."""
    wanted = pinned_version()
    bru = HERE / "node_modules" / ".bin" / "bru"
    if installed_version() == wanted and bru.exists():
        return bru
    npm = shutil.which("npm")
    if npm is None:
        raise Refused("npm not found: install Node.js 20+ and npm to run the Bruno collection", 3)
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed_version() != wanted or not bru.exists():  # another process may have done it
            print(f"api-test: installing {CLI_PACKAGE} {wanted} into {HERE / 'node_modules'} "
                  "(first use; about two minutes)", file=sys.stderr, flush=True)
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE)
            if done.returncode != 0 or installed_version() != wanted:
                raise Refused(f"npm ci failed (exit {done.returncode}); see its output above", 3)
    return bru


def embedded_environment(var_dir: Path) -> dict[str, str]:
    """The API key and key material of the embedded default, unless already in the environment."""
    found: dict[str, str] = {}
    if not os.environ.get("TENANTMAIL_API_KEY"):
        key_file = var_dir / "api-key"
        if not key_file.exists():
            raise Refused(f"no {key_file}: start the service first (`make run`), point --var-dir at its "
                          "var directory, or set TENANTMAIL_API_KEY", 2)
        found["TENANTMAIL_API_KEY"] = key_file.read_text().strip()
    if not os.environ.get("TENANTMAIL_KEY_MATERIAL"):
        registry = var_dir / "keys.json"
        if registry.exists():
            document = json.loads(registry.read_text())
            found["TENANTMAIL_KEY_MATERIAL"] = document["keys"][document["current"]]
        else:
            print(f"api-test: no {registry}: the webhook requests will be skipped", file=sys.stderr)
    return found


def deployment_environment() -> dict[str, str]:
    missing = [name for name in DEPLOYMENT_VARIABLES if not os.environ.get(name)]
    if missing:
        raise Refused(f"the deployment environment needs {', '.join(missing)}", 2)
    if not os.environ.get("TENANTMAIL_KEY_MATERIAL"):
        print("api-test: TENANTMAIL_KEY_MATERIAL is not set: the webhook requests will be skipped", file=sys.stderr)
    return {}


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, _, passed = (argv[: argv.index("--")], "--", argv[argv.index("--") + 1:]) if "--" in argv else (argv, "", [])
    parser = argparse.ArgumentParser(
        prog="api-test/run.py", description="Run the Bruno collection with the pinned Bruno CLI.",
        epilog="Arguments after -- go to `bru run` (a folder to run, --reporter-json FILE, --bail, ...).",
    )
    parser.add_argument("--env", choices=["embedded", "deployment"], default="embedded",
                        help="the collection's environment (default: embedded)")
    parser.add_argument("--url", help="the service root, e.g. http://127.0.0.1:8000 (overrides the environment's)")
    parser.add_argument("--var-dir", type=Path, default=Path(os.environ.get("TENANTMAIL_VAR_DIR", "var")),
                        help="the embedded default's var directory (default: $TENANTMAIL_VAR_DIR or var)")
    return parser.parse_args(own), passed


def main(argv: list[str]) -> int:
    args, passed = parse(argv)
    try:
        extra = embedded_environment(args.var_dir) if args.env == "embedded" else deployment_environment()
        bru = bru_executable()
    except Refused as refused:
        print(f"api-test: {refused}", file=sys.stderr)
        return refused.status
    command = [str(bru), "run", "--env", args.env, *(["--env-var", f"host={args.url}"] if args.url else []), *passed]
    return subprocess.run(command, cwd=HERE, env={**os.environ, **extra}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
