"""The gauge of configurations per operational and administrative state (SPEC §10).

A cheap periodic worker step: one GROUP BY over the configurations table. Every state pair is set,
zero included, so a state that empties drops to 0 instead of keeping its last value.
"""

from __future__ import annotations

from tenantmail.domain.configuration import Administrative, Operational
from tenantmail.services.context import ServiceContext

GAUGE = "email.configuration.state"
REFRESH_SECONDS = 15.0


async def refresh_state_gauge(ctx: ServiceContext) -> int:
    """Worker step; returns 0 so the loop sleeps ``REFRESH_SECONDS`` between refreshes."""
    counts = await ctx.scans.count_by_state()
    for operational in Operational:
        for administrative in Administrative:
            ctx.telemetry.set_gauge(
                GAUGE, counts.get((operational.value, administrative.value), 0),
                labels={"operational": operational.value, "administrative": administrative.value},
            )
    return 0
