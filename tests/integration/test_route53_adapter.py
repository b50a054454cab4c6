"""Route53DnsGateway against moto's real Route 53 server on loopback, driven through boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tenantmail.adapters.route53 import DnsError, Route53DnsGateway, quote_txt, unquote_txt
from tenantmail.services.ports import DnsRecord

ZONE = "mail.example.com"
DKIM_HOST = f"20240101pm._domainkey.acme.{ZONE}"
RETURN_PATH_HOST = f"pm-bounces.acme.{ZONE}"
LONG_DKIM = (
    "k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 12
)  # 537 chars: 3 strings on the wire
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def route53(moto_endpoint: str):
    return boto3.client(
        "route53", endpoint_url=moto_endpoint, region_name="us-east-1", **CREDENTIALS
    )


@pytest.fixture
def zone_id(route53) -> str:
    zone = route53.create_hosted_zone(Name=ZONE, CallerReference=str(uuid.uuid4()))
    return zone["HostedZone"]["Id"]


@pytest.fixture
def gateway(moto_endpoint: str, zone_id: str) -> Route53DnsGateway:
    return Route53DnsGateway(zone_id, endpoint_url=moto_endpoint, **CREDENTIALS)


def wire_values(route53, zone_id: str, name: str, record_type: str) -> list[str]:
    sets = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [
        resource["Value"]
        for found in sets
        if found["Name"] == f"{name}." and found["Type"] == record_type
        for resource in found["ResourceRecords"]
    ]


async def test_upserted_records_list_back_normalized(gateway):
    records = [
        DnsRecord(name=DKIM_HOST, type="TXT", value=LONG_DKIM),
        DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="pm.mtasv.net", ttl=600),
    ]
    await gateway.upsert_records(records)
    listed = await gateway.list_records()
    assert set(records) <= set(listed)
    assert all(
        record.type in {"TXT", "CNAME"} for record in listed
    )  # the zone's NS/SOA are left out


async def test_long_txt_is_written_as_several_quoted_strings_of_at_most_255(
    gateway, route53, zone_id
):
    await gateway.upsert_records([DnsRecord(name=DKIM_HOST, type="TXT", value=LONG_DKIM)])
    [wire] = wire_values(route53, zone_id, DKIM_HOST, "TXT")
    strings = wire[1:-1].split('" "')
    assert len(strings) == 3
    assert all(len(string) <= 255 for string in strings)
    assert "".join(strings) == LONG_DKIM


async def test_upsert_replaces_a_changed_value(gateway):
    await gateway.upsert_records(
        [DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="old.example.net")]
    )
    await gateway.upsert_records(
        [DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="pm.mtasv.net")]
    )
    cnames = [record for record in await gateway.list_records() if record.name == RETURN_PATH_HOST]
    assert [record.value for record in cnames] == ["pm.mtasv.net"]


async def test_delete_removes_what_is_there_even_when_the_value_changed(gateway):
    await gateway.upsert_records([DnsRecord(name=DKIM_HOST, type="TXT", value="k=rsa; p=rotated")])
    await gateway.delete_records(
        [DnsRecord(name=DKIM_HOST, type="TXT", value="k=rsa; p=what-we-expected")]
    )
    assert [record for record in await gateway.list_records() if record.name == DKIM_HOST] == []


async def test_deleting_absent_records_is_fine(gateway):
    await gateway.upsert_records(
        [DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="pm.mtasv.net")]
    )
    await gateway.delete_records(
        [
            DnsRecord(name=DKIM_HOST, type="TXT", value="k=rsa; p=never-written"),
            DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="pm.mtasv.net"),
        ]
    )
    await gateway.delete_records(
        [DnsRecord(name=RETURN_PATH_HOST, type="CNAME", value="pm.mtasv.net")]
    )
    assert [
        record for record in await gateway.list_records() if record.name == RETURN_PATH_HOST
    ] == []


async def test_listing_reads_every_page_of_the_zone(gateway, route53, zone_id):
    # Route 53, and moto like it, answers at most 300 record sets per page.
    records = [
        DnsRecord(name=f"h{i:03}.{ZONE}", type="CNAME", value="pm.mtasv.net") for i in range(320)
    ]
    await gateway.upsert_records(records)
    first_page = route53.list_resource_record_sets(HostedZoneId=zone_id)
    assert first_page["IsTruncated"]  # the zone really spans several pages
    listed = await gateway.list_records()
    assert set(records) <= set(listed)


async def test_an_unknown_zone_raises_a_dns_error(moto_endpoint):
    gateway = Route53DnsGateway("/hostedzone/NOSUCHZONE", endpoint_url=moto_endpoint, **CREDENTIALS)
    with pytest.raises(DnsError):
        await gateway.list_records()


@pytest.mark.parametrize(
    "text", ['v=spf1 include:"quoted" \\ back', "", "x" * 255, "y" * 256, LONG_DKIM]
)
def test_txt_quoting_round_trips(text):
    assert unquote_txt(quote_txt(text)) == text


def test_route53_octal_escapes_are_decoded():
    assert unquote_txt('"a\\073b"') == "a;b"
