"""Timestamps as Postmark writes them: ISO 8601 with an offset."""

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
