"""The client's pager for Postmark's searches stays inside the 10,000 (count + offset) window."""

from __future__ import annotations

import httpx

from tenantmail.adapters.postmark.client import MAX_WINDOW, PostmarkClient


def _bounce(i: int) -> dict[str, object]:
    return {"RecordType": "Bounce", "ID": i, "Type": "SoftBounce", "TypeCode": 4096, "Name": "Soft bounce",
            "Tag": "", "MessageID": f"m{i}", "ServerID": 1, "MessageStream": "outbound", "Description": "",
            "Details": "", "Email": f"r{i}@example.org", "From": "a@example.org", "BouncedAt": None,
            "DumpAvailable": False, "Inactive": False, "CanActivate": True, "Subject": "s"}


async def test_listing_bounces_never_asks_beyond_the_window() -> None:
    asked: list[tuple[int, int]] = []

    def postmark(request: httpx.Request) -> httpx.Response:
        count, offset = int(request.url.params["count"]), int(request.url.params["offset"])
        asked.append((count, offset))
        if count + offset > MAX_WINDOW:
            return httpx.Response(422, json={"ErrorCode": 1000, "Message": "beyond 10,000"})
        items = [_bounce(i) for i in range(offset, offset + count)]
        return httpx.Response(200, json={"TotalCount": 25_000, "Bounces": items})

    async with PostmarkClient("https://pm.test", None, timeout=5, transport=httpx.MockTransport(postmark)) as client:
        bounces = await client.server("token").list_bounces()
    assert len(bounces) == MAX_WINDOW == 10_000
    assert max(count + offset for count, offset in asked) == MAX_WINDOW and len(asked) == 20
