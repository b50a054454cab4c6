"""Route 53 on loopback: moto's server mode, driven through boto3 like the real service.

moto keeps its state in memory: zones and records vanish when it stops. ``ensure_zone`` is
idempotent so a restart can recreate the zone, and ``save_records`` / ``restore_records`` carry the
zone's records across a clean restart (the runner saves them on stop when it has a state dir), so
the embedded default keeps its published DKIM and Return-Path records like the real Route 53 would.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threading import Thread

from moto.server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tenantmail.sandbox.verification import route53_client


class _BoundMotoServer(ThreadedMotoServer):
    """moto's threaded server, bound in the caller's thread.

    moto's own ``start`` binds inside its thread and waits for a ready signal that never comes
    when the bind fails (a busy port would hang the caller forever), and werkzeug answers a failed
    bind with ``sys.exit``. Here our own socket is bound first, so the bind's ``OSError`` reaches
    the caller at once; werkzeug serves on that socket and only ``serve_forever`` runs in the thread.
    """

    def start(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._ip_address, self._port))
            sock.listen(128)
            self._server = make_server(  # werkzeug keeps a duplicate of the socket's descriptor
                self._ip_address, self._port, DomainDispatcherApplication(create_backend_app), True,
                request_handler=MotoRequestHandler, fd=sock.fileno(),
            )
        self._server_ready_event.set()
        self._thread = Thread(target=self._server.serve_forever, daemon=True, name=f"moto-{self._port}")
        self._thread.start()


@dataclass
class LocalRoute53:
    server: ThreadedMotoServer
    endpoint_url: str

    def stop(self) -> None:
        self.server.stop()


def start_route53(host: str = "127.0.0.1", port: int = 0) -> LocalRoute53:
    """Start moto's threaded server; ``port=0`` picks a free port."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise
    server = _BoundMotoServer(ip_address=host, port=port, verbose=False)
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


_ZONE_OWN_TYPES = frozenset({"SOA", "NS"})  # created with the zone; never restored


def _record_sets(endpoint_url: str, zone_id: str) -> list[dict[str, Any]]:
    client = route53_client(endpoint_url)
    sets: list[dict[str, Any]] = []
    for page in client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        sets.extend(s for s in page["ResourceRecordSets"] if s["Type"] not in _ZONE_OWN_TYPES)
    return sets


def save_records(endpoint_url: str, zone_id: str, path: Path) -> int:
    """Write the zone's records (all but SOA/NS) to ``path``; return how many sets were saved."""
    sets = _record_sets(endpoint_url, zone_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sets))
    return len(sets)


def restore_records(endpoint_url: str, zone_id: str, path: Path) -> int:
    """UPSERT the record sets saved in ``path`` (if any) into the zone; return how many."""
    if not path.exists():
        return 0
    sets = json.loads(path.read_text())
    client = route53_client(endpoint_url)
    for start in range(0, len(sets), 500):  # well under Route 53's 1,000 changes per batch
        changes = [{"Action": "UPSERT", "ResourceRecordSet": s} for s in sets[start:start + 500]]
        client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return len(sets)
