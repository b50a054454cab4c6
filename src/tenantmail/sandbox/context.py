"""Everything one emulator instance holds, shared by its route handlers."""

from __future__ import annotations

from dataclasses import dataclass

from tenantmail.sandbox.config import SandboxConfig
from tenantmail.sandbox.delivery import WebhookDispatcher
from tenantmail.sandbox.faults import FaultBook
from tenantmail.sandbox.state import SandboxState
from tenantmail.sandbox.verification import DnsChecker


@dataclass
class Sandbox:
    state: SandboxState
    config: SandboxConfig
    account_token: str
    dns: DnsChecker
    faults: FaultBook
    dispatcher: WebhookDispatcher

    @classmethod
    def build(
        cls, state: SandboxState, config: SandboxConfig, account_token: str,
        route53_endpoint_url: str | None,
    ) -> Sandbox:
        return cls(
            state=state, config=config, account_token=account_token,
            dns=DnsChecker(route53_endpoint_url),
            faults=FaultBook(config.faults, seed=config.seed),
            dispatcher=WebhookDispatcher(state, config),
        )
