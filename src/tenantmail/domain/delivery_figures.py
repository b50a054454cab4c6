"""The numbers an operator watches per tenant: sends and their bounce and complaint rates.

A send counts once Postmark accepted it (``SENT`` or any later delivery outcome, and the
``INCONSISTENT`` jobs, which Postmark accepted too); a rate is over those sends, as Postmark's own
dashboard computes it. Queued, failed and cancelled jobs never reached Postmark and count nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantmail.domain.job import SEVERITY, JobStatus

#: The statuses of a job Postmark accepted.
ACCEPTED_BY_POSTMARK: frozenset[JobStatus] = frozenset({*SEVERITY, JobStatus.INCONSISTENT})


@dataclass(frozen=True)
class DeliveryFigures:
    sent: int = 0  #: accepted by Postmark
    delivered: int = 0
    bounced: int = 0
    complained: int = 0

    @property
    def bounce_rate(self) -> float | None:
        """Bounced / sent; None when nothing was sent (a rate of nothing is not 0 %)."""
        return self.bounced / self.sent if self.sent else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complained / self.sent if self.sent else None
