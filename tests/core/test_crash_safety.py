"""kill -9 at random moments while a child process writes assets and user state.

The child loops: add_asset (then prints ``DONE <id> <sha256>``, flushed = "reported done"),
a few tag/rating/favourite/trash/restore changes, project meta saves, a reconcile now and
then. The parent SIGKILLs it after a random (seeded) delay, 55 times on the same project so
damage would pile up, and after every kill checks that the project opens writable, every
reported asset is intact and indexed, the index agrees with the sidecars, no temp file shows,
and the SQLite file passes an integrity check.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genstudio.core.assets import read_sidecar, sha256_file
from genstudio.core.atomic import is_temp_name
from genstudio.core.gallery import Query
from genstudio.core.project import Project

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

REPO = Path(__file__).resolve().parents[2]
KILLS = 55
MAX_DELAY_S = 0.150

CHILD = r"""
import os, random, sys
from genstudio.core.gallery import Query
from genstudio.core.project import Project

root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
if os.path.exists(os.path.join(root, "project.json")):
    p = Project.open(root)
else:
    p = Project.create(root, name="crash test")
if p.read_only:
    sys.exit("read-only: " + str(p.read_only_reason))
g = p.gallery
known = [r.id for t in (False, True) for r in g.query(Query(limit=None, trashed=t))]
TAGS = ["hero", "boss", "wip", "final", "tile", "ui"]
sys.stdout.write("READY\n")
sys.stdout.flush()
i = 0
while True:
    i += 1
    ext = rng.choice(["mid", "wav", "dat", "png"])
    data = rng.randbytes(rng.randint(1, 4000))
    rec = p.add_asset(kind="test", data=data, ext=ext, generator="crash.child",
                      params={"prompt": f"crash run {seed} item {i}"}, seed=i)
    sys.stdout.write(f"DONE {rec.id} {rec.sha256}\n")
    sys.stdout.flush()
    known.append(rec.id)
    for _ in range(rng.randint(0, 3)):
        target = rng.choice(known)
        op = rng.randrange(7)
        if op == 0:
            g.set_tags(target, rng.sample(TAGS, rng.randint(0, 3)))
        elif op == 1:
            g.set_rating(target, rng.randrange(6))
        elif op == 2:
            g.set_favorite(target, rng.random() < 0.5)
        elif op == 3:
            g.trash(target)
        elif op == 4:
            g.restore(target)
        elif op == 5:
            g.add_tag(target, rng.choice(TAGS))
        else:
            p.meta["counter"] = i
            p.meta["seed"] = seed
            p.save_meta()
    if i % 15 == 0:
        g.reconcile()
"""

_DONE = re.compile(r"^DONE (\d{8}-\d{6}-[0-9a-f]{6}) ([0-9a-f]{64})$")


def _run_and_kill(root: Path, seed: int, delay: float) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(seed)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        if first.strip() != "READY":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"child did not start (got {first!r}):\n{err}")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"child died by itself:\n{err}"
    done = []
    for line in out.splitlines(keepends=True):
        m = _DONE.match(line.rstrip("\n"))
        if m and line.endswith("\n"):  # a line cut by the kill does not count
            done.append((m.group(1), m.group(2)))
    return done


def _check(root: Path, reported: dict[str, str]) -> None:
    p = Project.open(root)
    try:
        assert not p.read_only, p.read_only_reason
        g = p.gallery
        g.reconcile()
        shown = {r.id: r for r in g.query(Query(limit=None))}
        shown.update({r.id: r for r in g.query(Query(limit=None, trashed=True))})
        for asset_id, sha in reported.items():
            rec = shown.get(asset_id)
            assert rec is not None, f"reported asset {asset_id} is not in the gallery"
            assert rec.status == "ok", (asset_id, rec.status)
            path = p.assets_dir / rec.file
            assert sha256_file(path) == sha == rec.sha256
            side = read_sidecar(p.assets_dir / f"{asset_id}.json")
            # the index agrees with the sidecar (the truth) after reconcile
            assert (side.tags, side.rating, side.favorite, side.trashed) == (
                rec.tags,
                rec.rating,
                rec.favorite,
                rec.trashed,
            )
        for rec in shown.values():
            assert not is_temp_name(rec.file) and not rec.file.startswith(".")
            if rec.status == "ok":
                assert (p.assets_dir / rec.file).is_file()
        assert isinstance(p.meta, dict)
    finally:
        p.close()
    conn = sqlite3.connect(root / "gallery.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_at_random_points_never_loses_a_reported_asset(tmp_path):
    rng = random.Random(20261123)
    root = tmp_path / "crashy"
    reported: dict[str, str] = {}
    started = time.monotonic()
    kills = 0
    for k in range(KILLS):
        done = _run_and_kill(root, seed=k, delay=rng.uniform(0.0, MAX_DELAY_S))
        kills += 1
        for asset_id, sha in done:
            reported[asset_id] = sha
        _check(root, reported)
    assert kills >= 50
    assert len(reported) > KILLS  # the child got real work done between kills
    # stray temp files are possible after kill -9, but never visible as assets
    p = Project.open(root)
    try:
        files = {r.file for r in p.gallery.query(Query(limit=None))}
        assert not any(is_temp_name(f) for f in files)
    finally:
        p.close()
    print(f"{kills} kills, {len(reported)} reported assets, {time.monotonic() - started:.1f} s")
