"""A notification's ``data``: the same object as the ``payload`` the API answers for its subject
(``GET /job/{eId}``, a suppression entry, ``GET /configuration/{eId}``), so a calling service
parses notifications with the models it already has."""

from __future__ import annotations

from typing import Any

from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.domain.job import EmailJob
from tenantmail.domain.suppression import SuppressionEntry
from tenantmail.entrypoints.api.schemas_configuration import configuration_payload
from tenantmail.entrypoints.api.schemas import iso
from tenantmail.entrypoints.api.schemas_job import job_envelope
from tenantmail.entrypoints.api.schemas_suppression import SuppressionOut


class ApiViews:
    def job(self, job: EmailJob) -> dict[str, Any]:
        payload: dict[str, Any] = job_envelope(job)["payload"]
        return payload

    def suppression(self, entry: SuppressionEntry) -> dict[str, Any]:
        """The entry as ``GET /suppression`` lists it, and when it was lifted (``suppression.removed``)."""
        return {**SuppressionOut.of(entry).model_dump(mode="json"), "removedAt": iso(entry.removed_at)}

    def configuration(self, config: EmailConfiguration) -> dict[str, Any]:
        return configuration_payload(config).model_dump(mode="json", by_alias=True)
