"""Issue 11, core part: a kill between asset file and sidecar, invalid UTF-8 text, planted
links and duplicate claims in assets/, restarted jobs, full disks, bad project names."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genstudio.core import gallery as gallery_mod
from genstudio.core.assets import read_sidecar, sha256_bytes
from genstudio.core.atomic import json_bytes
from genstudio.core.errors import AssetError, GenStudioError, ProjectError
from genstudio.core.gallery import Gallery, Query
from genstudio.core.jobs import JOBS_FILE, JobRunner, JobSpec, JobState
from genstudio.core.project import Project
from tests.helpers.gens import SlowGen, SlowParams, tiny_png

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "p", name="Test")
    yield p
    p.close()


def _add(p: Project, i: int, **kw):
    return p.add_asset(
        kind="sprite",
        data=tiny_png(i),
        ext="png",
        generator="sprites.procedural",
        params={"prompt": f"knight {i}"},
        seed=i,
        **kw,
    )


def _all(p: Project):
    g = p.gallery
    return g.query(Query(limit=None)) + g.query(Query(limit=None, trashed=True))


# --------------------------------------------------------------------------- defect 4


def test_reconcile_recovers_a_complete_temp_sidecar_instead_of_importing_the_file(proj):
    # What a kill between the asset file and its sidecar's rename leaves: the file, and the
    # whole sidecar in .<id>.json.<rand>.tmp - older than an hour (reconcile used to delete
    # it then and import the PNG as `generator: import`, kind image, no prompt or seed).
    rec = _add(proj, 3)
    side = proj.assets_dir / f"{rec.id}.json"
    tmp = proj.assets_dir / f".{rec.id}.json.0badc0de.tmp"
    os.replace(side, tmp)
    old = time.time() - 2 * gallery_mod.STALE_TEMP_S
    os.utime(tmp, (old, old))
    proj.close()
    # A fresh index (rebuilt), as after a lost gallery.sqlite: only the disk counts.
    (proj.root / "gallery.sqlite").unlink()
    q = Project.open(proj.root)
    try:
        rep = q.gallery.open_report
        assert rep.recovered == [rec.id]
        got = q.gallery.get(rec.id)
        assert (got.generator, got.kind, got.seed, got.prompt) == (
            "sprites.procedural",
            "sprite",
            3,
            "knight 3",
        )
        assert got.status == "ok" and [r.id for r in _all(q)] == [rec.id]
        assert read_sidecar(side) == rec and not tmp.exists()
    finally:
        q.close()


def test_a_temp_sidecar_that_does_not_match_the_file_is_not_used(proj):
    rec = _add(proj, 1)
    side = proj.assets_dir / f"{rec.id}.json"
    doc = json.loads(side.read_text())
    doc["sha256"] = "0" * 64  # another file's sidecar
    (proj.assets_dir / f".{rec.id}.json.0badc0de.tmp").write_bytes(json_bytes(doc))
    side.unlink()
    proj.close()
    (proj.root / "gallery.sqlite").unlink()
    q = Project.open(proj.root)
    try:
        assert q.gallery.open_report.recovered == []
        (got,) = _all(q)
        assert got.generator == "import"  # the file stays visible, never trusted wrongly
    finally:
        q.close()


KILL_BETWEEN = r"""
import os, sys
from genstudio.core import project as project_mod
from genstudio.core.project import Project

def die(tmp, side, data):
    os._exit(9)  # the kill lands after the asset file, before the sidecar's rename

project_mod._commit_sidecar = die
p = Project.open(sys.argv[1])
p.add_asset(kind="music", data=b"MThd-not-really", ext="mid", generator="music.gpt",
            params={"prompt": "sad waltz", "bars": 8}, seed=42)
"""


def test_a_process_killed_between_file_and_sidecar_loses_nothing(proj):
    proj.close()
    r = subprocess.run(
        [sys.executable, "-c", KILL_BETWEEN, str(proj.root)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 9, r.stderr
    q = Project.open(proj.root)
    try:
        (got,) = _all(q)
        assert (got.kind, got.generator, got.seed, got.prompt) == (
            "music",
            "music.gpt",
            42,
            "sad waltz",
        )
        assert got.status == "ok" and got.params["bars"] == 8
    finally:
        q.close()


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("params.prompt", {"params": {"prompt": "a\udcff"}}),
        ("extra.name_hint", {"params": {}, "name_hint": "hero\udc80"}),
        ("params.attrs key", {"params": {"attrs": {"hair\ud800": "red"}}}),
    ],
)
def test_text_that_is_not_utf8_is_refused_before_anything_is_written(proj, field, kw):
    with pytest.raises(AssetError) as ei:
        proj.add_asset(kind="image", data=tiny_png(0), ext="png", generator="g", **kw)
    assert field in ei.value.message and "UTF-8" in ei.value.message
    assert "nothing was written" in (ei.value.hint or "")
    assert list(proj.assets_dir.iterdir()) == []
    assert proj.gallery.count() == 0


# --------------------------------------------------------------------------- defect 9


def test_links_planted_in_assets_are_never_followed_hashed_or_imported(proj, tmp_path, monkeypatch):
    rec = _add(proj, 0)
    victim = _add(proj, 1)
    outside = tmp_path / "outside.png"
    outside.write_bytes(tiny_png(9))
    a = proj.assets_dir
    (a / "passwd.png").symlink_to("/etc/passwd")
    (a / "outside.png").symlink_to(outside)
    (a / "twin.png").symlink_to(a / rec.file)
    (a / "loop.png").symlink_to(a / "loop.png")
    os.mkfifo(a / "pipe.mid")
    # an asset's own file swapped for a link to a file outside the project
    os.replace(a / victim.file, tmp_path / "saved.png")
    (a / victim.file).symlink_to("/etc/passwd")
    hashed: list[str] = []
    real = gallery_mod.sha256_file
    monkeypatch.setattr(gallery_mod, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    rep = proj.gallery.reconcile()
    assert sorted(rep.refused) == sorted(
        ["passwd.png", "outside.png", "twin.png", "loop.png", "pipe.mid", victim.file]
    )
    assert any("symbolic link" in m and "passwd.png" in m for m in rep.messages)
    assert any("FIFO" in m for m in rep.messages)
    assert hashed == [] and rep.added == []
    files = {r.file: r.status for r in _all(proj)}
    assert files == {rec.file: "ok", victim.file: "missing"}
    assert proj.gallery.thumbnail(victim.id) is None
    # a full rebuild does not import them either
    assert proj.gallery.rebuild() == 2
    assert {r.file for r in _all(proj)} == {rec.file, victim.file}


def test_a_linked_sidecar_is_not_followed_or_overwritten(proj, tmp_path):
    rec = _add(proj, 0)
    side = proj.assets_dir / f"{rec.id}.json"
    target = tmp_path / "elsewhere.json"
    target.write_text(side.read_text())
    side.unlink()
    side.symlink_to(target)
    before = target.read_bytes()
    with pytest.raises(AssetError, match="not a regular file"):
        proj.gallery.set_rating(rec.id, 5)
    assert target.read_bytes() == before


def test_an_edited_sidecar_claiming_another_assets_file_is_refused(proj):
    a = _add(proj, 0)
    b = _add(proj, 1)
    side = proj.assets_dir / f"{b.id}.json"
    doc = json.loads(side.read_text())
    doc.update(file=a.file, sha256=a.sha256, size=a.size)
    side.write_text(json.dumps(doc))
    rep = proj.gallery.reconcile()
    assert rep.bad_sidecars == [side.name]
    assert any("claims the file" in m and a.id in m for m in rep.messages)
    assert proj.gallery.get(b.id).file == b.file  # the last good copy
    assert proj.gallery.get(a.id).file == a.file
    # from scratch (no index to remember the last good copy): still refused
    assert proj.gallery.rebuild() == 1
    assert [r.id for r in _all(proj)] == [a.id]


# --------------------------------------------------------------------------- defect 5


class NoExitGen(SlowGen):
    """The same outputs as SlowGen, without the crash the first run had."""

    def run(self, params: SlowParams, ctx):  # type: ignore[override]
        return super().run(SlowParams(**{**params.to_dict(), "exit_at": -1}), ctx)


CRASH_JOB = r"""
import os, sys
from genstudio import generators
from genstudio.core.jobs import JobRunner, JobSpec
from genstudio.core.project import Project
from tests.helpers.gens import SlowGen

generators.register("test.slow", SlowGen)
p = Project.open(sys.argv[1])
mode = sys.argv[2]
if mode == "in_flight":  # killed after the 2nd asset is written, before jobs.json lists it
    real = p.add_asset
    n = []
    def add_then_die(*a, **k):
        rec = real(*a, **k)
        n.append(rec)
        if len(n) == 2:
            os._exit(7)
        return rec
    p.add_asset = add_then_die
runner = JobRunner(p, sync=True)
runner.submit(JobSpec("test.slow", {"steps": 5, "seed": 4,
                                    "exit_at": 3 if mode == "listed" else -1}))
"""


@pytest.mark.parametrize(("mode", "rc", "made"), [("listed", 3, 3), ("in_flight", 7, 2)])
def test_a_job_killed_while_running_resumes_without_duplicates(tmp_path, mode, rc, made):
    root = tmp_path / "p"
    Project.create(root, name="jobs").close()
    r = subprocess.run(
        [sys.executable, "-c", CRASH_JOB, str(root), mode],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == rc, r.stderr
    saved = json.loads((root / JOBS_FILE).read_text())["jobs"]
    assert [j["state"] for j in saved] == ["running"]
    assert len(list((root / "assets").glob("*.png"))) == made
    p = Project.open(root)
    try:
        runner = JobRunner(p, sync=True, resolve=lambda name: NoExitGen())
        (job,) = runner.jobs()
        assert job.state == JobState.QUEUED and len(job.asset_ids) == made
        runner.run_pending()
        job = runner.get(job.id)
        assert job.state == JobState.DONE and len(job.asset_ids) == 5
        recs = _all(p)
        assert len(recs) == 5 and {r.id for r in recs} == set(job.asset_ids)
        assert len({r.sha256 for r in recs}) == 5  # each output once
        assert sorted(r.extra["step"] for r in recs) == [0, 1, 2, 3, 4]
        runner.shutdown()
    finally:
        p.close()


def test_a_retried_job_runs_again_from_the_start(proj):
    runner = JobRunner(proj, sync=True, resolve=lambda name: SlowGen())
    job = runner.submit(JobSpec("test.slow", {"steps": 2}))
    again = runner.retry(job.id)
    assert again.state == JobState.DONE and len(again.asset_ids) == 2
    assert not set(again.asset_ids) & set(job.asset_ids)
    runner.shutdown()


# --------------------------------------------------------------------------- defect 10


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def full_disk(tmp_path):
    """A real, tiny tmpfs (needs root: `mount -t tmpfs`); skipped where it cannot be made."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)])
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_reading_a_project_works_on_a_really_full_disk(full_disk):
    root = full_disk / "p"
    p = Project.create(root, name="full")
    for i in range(4):
        _add(p, i)
    p.close()
    _fill(full_disk)
    for argv, needle in (
        (["project", "info", str(root), "--json"], '"assets": 4'),
        (["gallery", "list", str(root)], "(4 assets)"),
        (["gallery", "search", str(root), "knight"], "(4 assets)"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "genstudio", *argv],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert needle in r.stdout and "Traceback" not in r.stderr
        assert "another GenStudio" not in r.stderr
    q = Project.open(root)
    try:
        assert q.gallery.degraded and "disk is full" in q.gallery.messages[0]
        with pytest.raises(GenStudioError) as ei:
            q.gallery.set_rating(q.gallery.query()[0].id, 3)
        assert "disk is full" in str(ei.value) and "another GenStudio" not in str(ei.value)
        with pytest.raises(GenStudioError) as ei:
            _add(q, 9)
        assert "The disk is full" in (ei.value.hint or "")
    finally:
        q.close()
    assert len(list((root / "assets").iterdir())) == 8  # nothing written, nothing lost


def test_a_full_disk_while_opening_the_index_gives_a_read_only_view(proj, monkeypatch):
    # The unprivileged twin of the tmpfs test: SQLite's answer on a full disk is simulated at
    # the call that meets it (opening the index), and the disk is reported full.
    for i in range(3):
        _add(proj, i)
    proj.close()

    def full(self, path):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Gallery, "_open_file", full)
    monkeypatch.setattr(gallery_mod, "disk_full", lambda path: True)
    g = Gallery(proj.root)
    try:
        assert g.count() == 3 and g.degraded and g.open_report.added == []
        with pytest.raises(GenStudioError, match="disk is full"):
            g.add_tag(g.query()[0].id, "x")
    finally:
        g.close()


def test_the_index_error_hint_names_the_real_cause(tmp_path, monkeypatch):
    class Full(sqlite3.OperationalError):
        sqlite_errorcode = 13

    class Busy(sqlite3.OperationalError):
        sqlite_errorcode = 5

    monkeypatch.setattr(gallery_mod, "disk_full", lambda path: False)
    assert "disk is full" in gallery_mod._db_hint(Full("full"), tmp_path)
    assert "Another GenStudio" in gallery_mod._db_hint(Busy("locked"), tmp_path)
    monkeypatch.setattr(gallery_mod, "disk_full", lambda path: True)
    assert "disk is full" in gallery_mod._db_hint(sqlite3.OperationalError("disk I/O"), tmp_path)


def test_opening_an_index_writes_nothing(proj):
    _add(proj, 0)
    proj.close()
    index = proj.root / "gallery.sqlite"
    conn = sqlite3.connect(index)
    before = conn.execute("PRAGMA data_version").fetchone()[0], index.read_bytes()
    conn.close()
    g = Gallery(proj.root)
    g.close()
    assert index.read_bytes() == before[1]


# --------------------------------------------------------------------------- defect 6 (core)


@pytest.mark.parametrize(
    ("path_part", "name", "needle"),
    [
        ("x" * 300, None, "bytes long"),
        ("ok", "n" * 300, "characters long"),
        ("ok", "bad\udcffname", "not valid UTF-8"),
        ("ok", "line\nbreak", "control characters"),
    ],
)
def test_bad_project_names_give_a_project_error(tmp_path, path_part, name, needle):
    with pytest.raises(ProjectError, match=needle):
        Project.create(tmp_path / path_part, name=name)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_name_that_is_not_utf8_gives_a_readable_project_name(tmp_path):
    root = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    p = Project.create(root)
    try:
        assert p.name == "caf\ufffd"
        json.loads((root / "project.json").read_bytes())  # valid UTF-8 JSON
        _add(p, 0)
        assert p.gallery.count() == 1
    finally:
        p.close()


def test_opening_a_300_character_path_is_a_project_error(tmp_path):
    with pytest.raises(ProjectError, match="bytes long"):
        Project.open(tmp_path / ("y" * 300))


def test_the_sidecar_rename_accepts_a_sidecar_recovered_meanwhile(proj):
    # The writer's rename meets a sidecar another process's reconcile already put in place.
    from genstudio.core import project as project_mod

    data = b'{"x": 1}\n'
    side = proj.assets_dir / "a.json"
    side.write_bytes(data)
    project_mod._commit_sidecar(proj.assets_dir / ".a.json.00000000.tmp", side, data)
    assert sha256_bytes(side.read_bytes()) == sha256_bytes(data)
    with pytest.raises(GenStudioError):
        project_mod._commit_sidecar(proj.assets_dir / ".a.json.00000001.tmp", side, b"other")


def test_a_migration_that_cannot_be_saved_on_a_full_disk_opens_read_only(tmp_path, monkeypatch):
    from genstudio.core import project as project_mod
    from tests.core.test_project import _write_v1

    root = tmp_path / "old"
    raw = _write_v1(root)

    def full(path, data):
        raise GenStudioError(f"Could not write {path}: No space left on device")

    monkeypatch.setattr(project_mod, "atomic_write_bytes", full)
    monkeypatch.setattr(project_mod, "atomic_write_json", full)
    p = Project.open(root)
    try:
        assert p.read_only and "No space left" in p.read_only_reason
        assert (root / "project.json").read_bytes() == raw
    finally:
        p.close()


@pytest.mark.parametrize("removed", [(), ("sidecar",), ("sidecar", "file")])
def test_a_delete_cut_short_by_a_kill_is_finished_on_reopen(proj, removed):
    # What a kill inside Gallery.delete leaves: the tombstone it writes first, then any of
    # the sidecar and the file gone, the index row still there. The old order (sidecar, file,
    # row) left a "missing" ghost, or a file imported back without its prompt.
    keep = _add(proj, 0)
    rec = _add(proj, 1)
    proj.gallery.trash(rec.id)
    a = proj.assets_dir
    (a / f".{rec.id}.json.deleted").write_text(json.dumps({"id": rec.id, "file": rec.file}))
    if "sidecar" in removed:
        (a / f"{rec.id}.json").unlink()
    if "file" in removed:
        (a / rec.file).unlink()
    proj.close()
    q = Project.open(proj.root)
    try:
        assert [r.id for r in _all(q)] == [keep.id]
        assert sorted(p.name for p in a.iterdir()) == sorted([keep.file, f"{keep.id}.json"])
        assert any("cut short" in m for m in q.gallery.open_report.messages)
    finally:
        q.close()


def test_delete_leaves_nothing_behind(proj):
    rec = _add(proj, 1)
    proj.gallery.trash(rec.id)
    proj.gallery.delete(rec.id)
    assert list(proj.assets_dir.iterdir()) == [] and proj.gallery.count(Query(trashed=True)) == 0
