"""schemathesis against a live ``tenantmail serve``, on SQLite and on PostgreSQL (SPEC §14): every
operation, with a fixed seed and a bounded number of examples: 0 × 5xx, 0 contract violations
(undeclared status codes, response bodies, content types and headers off the document).

The command is the README's (development section); ``SCHEMATHESIS_EXAMPLES`` raises the bound.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app_fixtures import TEST_API_KEY
from tests.serve_support import serving

ST = str(Path(sys.executable).with_name("st"))
PREFIX = "/v1/shop-access/email"
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance",
])
pytestmark = pytest.mark.slow  # a real process, ~1-2 minutes per database


def schemathesis_command(base: str, *, examples: int, seed: int = 15) -> list[str]:
    return [
        ST, "run", f"{base}{PREFIX}/openapi.json", "--checks", CHECKS, "--seed", str(seed),
        "--max-examples", str(examples), "--workers", "1", "--no-color",
        "--header", f"Authorization: Bearer {TEST_API_KEY}", "--header", "X-Tenant-Id: schemathesis",
        "--exclude-operation-id", "getMetrics",  # Prometheus text; nothing to fuzz
        "--generation-database", "none",
    ]


def test_schemathesis_finds_no_5xx_and_no_contract_violation(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, tmp_path) as (base, _pid):
        examples = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
        run = subprocess.run(schemathesis_command(base, examples=examples), capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]  # st exits 1 on any failed check
