"""``var/endpoints.json``: where a running embedded-default ``tenantmail serve`` can be reached.

``serve`` writes it once it listens (API, docs, console, the sandbox's Postmark and Route 53 URLs,
the mail zone's id) and removes it when it stops; CLI commands run with the same
``TENANTMAIL_VAR_DIR`` read it, so they reach that sandbox whatever ports it was given (SPEC §15).
Written atomically (a temporary file renamed over it), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "endpoints.json"


@dataclass(frozen=True)
class LocalEndpoints:
    api: str  #: the API's base URL, prefix included
    docs: str
    console: str
    postmark: str  #: the sandbox's Postmark API
    route53: str  #: the sandbox's local Route 53
    zone_id: str
    pid: int

    def write(self, var_dir: Path) -> Path:
        path = var_dir / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{FILE_NAME}.{self.pid}")
        scratch.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(scratch, path)
        return path

    @classmethod
    def read(cls, var_dir: Path) -> LocalEndpoints | None:
        """The file's endpoints; None when there is none (or it is not one we can read)."""
        try:
            data = json.loads((var_dir / FILE_NAME).read_text())
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self, var_dir: Path) -> None:
        """Delete the file if it is still this process's (a newer serve may have replaced it)."""
        found = LocalEndpoints.read(var_dir)
        if found is not None and found.pid == self.pid:
            (var_dir / FILE_NAME).unlink(missing_ok=True)
