"""Events, metrics and alerts (SPEC §10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Telemetry(Protocol):
    def emit(
        self, event: str, *, labels: Mapping[str, str] | None = None, level: str = "info",
        sentry: bool = False, fingerprint: Sequence[str] | None = None, **fields: Any,
    ) -> None: ...
    def set_gauge(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None: ...
    def observe(self, name: str, seconds: float, *, labels: Mapping[str, str] | None = None) -> None: ...
