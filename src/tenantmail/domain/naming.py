"""Names derived from a sending domain: the domain itself, the Postmark server, DNS record hosts."""

from __future__ import annotations

RETURN_PATH_LABEL = "pm-bounces"


def sending_domain(slug: str, mail_zone_name: str) -> str:
    """``acme`` in ``dev.ardamails.com`` → ``acme.dev.ardamails.com``."""
    return f"{slug}.{mail_zone_name}"


def server_name(domain: str) -> str:
    """Labels reversed, TLD dropped, joined by '-': ``acme.dev.ardamails.com`` → ``ardamails-dev-acme``.

    Unique across partitions sharing one Postmark account, because the partition label is in it.
    """
    labels = domain.split(".")
    return "-".join(reversed(labels[:-1]))


def server_name_prefix(mail_zone_name: str) -> str:
    """The prefix every server of a partition's zone carries (``ardamails-dev-``), for drift scans."""
    return server_name(f"x.{mail_zone_name}")[: -len("x")]


def return_path_host(domain: str) -> str:
    return f"{RETURN_PATH_LABEL}.{domain}"
