"""Fixtures that build tenantmail itself: settings for a test, and the running App."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tenantmail.settings import Settings

TEST_API_KEY = "test-api-key-0123456789abcdef"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its database, its own ./var/, a known API key, free sandbox ports."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        var_dir=tmp_path / "var",
        api_keys=[SecretStr(TEST_API_KEY)],
        sandbox_postmark_port=0,
        sandbox_route53_port=0,
        verification_poll_seconds=0.2,
        worker_poll_seconds=0.05,
        log_json=True,
    )
