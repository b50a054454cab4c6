#!/usr/bin/env bash
# Install tenantmail for production into a fresh virtual environment: exactly the runtime lock
# (requirements.lock: no sandbox, no moto, no test tools) plus the tenantmail wheel built from the
# source tree. The Dockerfile's build stage runs this script; tests/deploy/test_runtime_install.py
# runs it for real and then serves mail from the result.
#
# usage: deploy/install-runtime.sh VENV [SOURCE_DIR]   (SOURCE_DIR: default the checkout holding
#        this script; it needs pyproject.toml, README.md, requirements.lock and src/)
# env:   PYTHON   the Python 3.11 to build the venv with (default python3)
set -euo pipefail

venv=${1:?usage: install-runtime.sh VENV [SOURCE_DIR]}
src=${2:-"$(cd "$(dirname "$0")/.." && pwd)"}
python=${PYTHON:-python3}
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)

"$python" -m venv "$venv"
# every runtime dependency at its locked version, nothing resolved anew
"${pip[@]}" install --no-deps -r "$src/requirements.lock"
# the application itself (setuptools is fetched into an isolated build environment)
"${pip[@]}" wheel --no-deps --wheel-dir "$wheels" "$src"
"${pip[@]}" install --no-deps "$wheels"/tenantmail-*.whl
# the lock satisfies everything the wheel declares
"${pip[@]}" check
echo "tenantmail $("$venv/bin/tenantmail" --version | cut -d' ' -f2) installed in $venv"
