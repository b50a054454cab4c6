"""Route 53 on loopback: moto's server mode, driven through boto3 like the real service.

moto keeps its state in memory: zones and records vanish when it stops (the emulator's own
state, in contrast, persists). ``ensure_zone`` is idempotent so a restart can recreate the zone.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

from tenantmail.sandbox.verification import route53_client


@dataclass
class LocalRoute53:
    server: ThreadedMotoServer
    endpoint_url: str

    def stop(self) -> None:
        self.server.stop()


def start_route53(host: str = "127.0.0.1", port: int = 0) -> LocalRoute53:
    """Start moto's threaded server; ``port=0`` picks a free port."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return LocalRoute53(server, f"http://{bound_host}:{bound_port}")


def ensure_zone(endpoint_url: str, zone_name: str) -> str:
    """The id of the public hosted zone named ``zone_name``, created if missing."""
    client = route53_client(endpoint_url)
    wanted = zone_name.rstrip(".").lower() + "."
    for page in client.get_paginator("list_hosted_zones").paginate():
        for zone in page["HostedZones"]:
            if zone["Name"].lower() == wanted:
                return str(zone["Id"]).rpartition("/")[2]
    created = client.create_hosted_zone(Name=wanted, CallerReference=str(uuid.uuid4()))
    return str(created["HostedZone"]["Id"]).rpartition("/")[2]
