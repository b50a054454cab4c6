"""Start-up configuration of the emulator; most of it can also be changed at run time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantmail.sandbox.faults import FaultRule
from tenantmail.sandbox.outcomes import RecipientRule

#: Postmark's webhook retry delays after each failed try (postmark-api.md §7), in seconds.
POSTMARK_RETRY_SCHEDULE = (60.0, 300.0, 600.0, 600.0, 600.0, 900.0)


@dataclass
class SandboxConfig:
    server_delete_enabled: bool = True  #: off → DELETE /servers/{id} answers 604
    recipient_rules: list[RecipientRule] = field(default_factory=list)
    faults: list[FaultRule] = field(default_factory=list)
    retry_schedule: tuple[float, ...] = POSTMARK_RETRY_SCHEDULE
    retry_scale: float = 1.0  #: multiplies the schedule; tests use e.g. 0.001
    webhook_timeout_seconds: float = 10.0
    duplicate_deliveries: bool = False  #: post every webhook event twice
    reorder_deliveries: bool = False  #: post events queued together in reverse order
    reorder_window_seconds: float = 0.05  #: how long the dispatcher gathers events to reorder
    seed: int | None = None  #: for fault probabilities

    def retry_delays(self) -> list[float]:
        return [delay * self.retry_scale for delay in self.retry_schedule]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxConfig:
        """Build from a JSON object with the same field names (rules and faults as objects)."""
        data = dict(data)
        rules = [RecipientRule.from_json(r) for r in data.pop("recipient_rules", [])]
        faults = [FaultRule.from_json(f) for f in data.pop("faults", [])]
        if "retry_schedule" in data:
            data["retry_schedule"] = tuple(float(d) for d in data["retry_schedule"])
        return cls(recipient_rules=rules, faults=faults, **data)

    @classmethod
    def from_file(cls, path: str | Path) -> SandboxConfig:
        return cls.from_json(json.loads(Path(path).read_text()))

    def settings_json(self) -> dict[str, Any]:
        """The run-time switches the control API reads and writes."""
        return {name: getattr(self, name) for name in RUNTIME_SETTINGS}


RUNTIME_SETTINGS = (
    "server_delete_enabled", "retry_scale", "webhook_timeout_seconds",
    "duplicate_deliveries", "reorder_deliveries", "reorder_window_seconds",
)
