"""``var/endpoints.json``: written whole, read back, removed only by the process that wrote it."""

from __future__ import annotations

import json
from pathlib import Path

from tenantmail.adapters.local_endpoints import LocalEndpoints


def endpoints(pid: int) -> LocalEndpoints:
    return LocalEndpoints(api="http://127.0.0.1:18000/v1", docs="http://127.0.0.1:18000/v1/docs",
                          console="http://127.0.0.1:18000/console/", postmark="http://127.0.0.1:18100",
                          route53="http://127.0.0.1:18101", zone_id="Z1", pid=pid)


def test_written_and_read_back(tmp_path: Path) -> None:
    path = endpoints(7).write(tmp_path / "var")
    assert json.loads(path.read_text())["postmark"] == "http://127.0.0.1:18100"
    assert LocalEndpoints.read(tmp_path / "var") == endpoints(7)
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["endpoints.json"]  # no scratch file left


def test_missing_or_damaged_reads_as_none(tmp_path: Path) -> None:
    assert LocalEndpoints.read(tmp_path) is None
    (tmp_path / "endpoints.json").write_text('{"api": "x"')
    assert LocalEndpoints.read(tmp_path) is None
    (tmp_path / "endpoints.json").write_text('{"api": "x"}')
    assert LocalEndpoints.read(tmp_path) is None


def test_only_the_writer_removes_it(tmp_path: Path) -> None:
    endpoints(7).write(tmp_path)
    endpoints(8).write(tmp_path)  # a newer serve took over the var dir
    endpoints(7).remove(tmp_path)
    assert LocalEndpoints.read(tmp_path) == endpoints(8)
    endpoints(8).remove(tmp_path)
    assert LocalEndpoints.read(tmp_path) is None
