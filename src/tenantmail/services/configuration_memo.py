"""The configurations this process last read, so a send can skip reading its configuration again.

Only a hint: the send path commits on it only together with a check, inside the same statement,
that the configuration's row is still at the remembered ``version`` (every change of state, token
or signature bumps it). A stale entry therefore costs one extra look, never a wrong answer.
Bounded: cleared when full.
"""

from __future__ import annotations

from tenantmail.domain.configuration import EmailConfiguration


class ConfigurationMemo:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._known: dict[tuple[str, str], EmailConfiguration] = {}
        self._max_entries = max_entries

    def get(self, tenant_id: str, e_id: str) -> EmailConfiguration | None:
        return self._known.get((tenant_id, e_id))

    def remember(self, tenant_id: str, e_id: str, config: EmailConfiguration | None) -> None:
        """Keep what a read found; forget the entry when the read found nothing."""
        if config is None:
            self._known.pop((tenant_id, e_id), None)
            return
        if len(self._known) >= self._max_entries:
            self._known.clear()
        self._known[(tenant_id, e_id)] = config
