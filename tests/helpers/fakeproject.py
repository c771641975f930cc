"""A minimal stand-in for genstudio.core.project.Project: only what the job runner needs."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json


@dataclass
class FakeRecord:
    id: str
    file: str
    sha256: str
    generator: str
    params: dict[str, Any] = field(default_factory=dict)


class FakeProject:
    """Writes assets/<id>.<ext> + assets/<id>.json atomically, like the real project."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.assets_dir = self.root / "assets"
        self.assets_dir.mkdir(exist_ok=True)
        self.read_only = read_only
        self.read_only_reason = "test" if read_only else None
        self.records: list[FakeRecord] = []
        self.outputs: list[Any] = []
        self.fail_next_add: Exception | None = None
        self._lock = threading.Lock()

    def add_asset(
        self, output: Any = None, *, generator: str, asset_id: str | None = None, **_: Any
    ) -> FakeRecord:
        if self.fail_next_add is not None:
            e, self.fail_next_add = self.fail_next_add, None
            raise e
        asset_id = asset_id or secrets.token_hex(6)
        name = f"{asset_id}.{output.ext}"
        atomic_write_bytes(self.assets_dir / name, output.data)
        rec = FakeRecord(
            asset_id, name, hashlib.sha256(output.data).hexdigest(), generator, dict(output.params)
        )
        atomic_write_json(self.assets_dir / f"{asset_id}.json", rec.__dict__)
        with self._lock:
            self.records.append(rec)
            self.outputs.append(output)
        return rec
