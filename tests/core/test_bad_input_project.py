"""Bad input on disk: every case gives a clear GenStudioError (or a read-only project with a
reason) and loses nothing."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

import genstudio.core.gallery as gallery_mod
from genstudio.core.errors import (
    AssetError,
    GalleryError,
    GenStudioError,
    ProjectError,
    ProjectReadOnlyError,
)
from genstudio.core.gallery import Query
from genstudio.core.project import PROJECT_FILE, Project


def png(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), color).save(buf, "PNG")
    return buf.getvalue()


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "cache" not in p.parts
    }


@pytest.fixture
def made(tmp_path):
    """A closed project with three assets; returns (root, records)."""
    p = Project.create(tmp_path / "p", name="Bad input")
    recs = [
        p.add_asset(
            kind="image",
            data=png((i * 60, 0, 0)),
            ext="png",
            generator="t",
            params={"prompt": f"asset number {i}"},
        )
        for i in range(3)
    ]
    p.gallery.set_tags(recs[0].id, ["keep"])
    p.close()
    return p.root, recs


# --------------------------------------------------------------------------- project.json


def _assert_read_only_and_untouched(root: Path, needle: str, n_assets: int) -> None:
    before = snapshot(root)
    p = Project.open(root)
    assert p.read_only
    assert needle in p.read_only_reason
    assert "read-only" in p.read_only_reason
    assert p.gallery.count() == n_assets  # still browsable, from the sidecars
    rec = p.gallery.query()[0]
    assert p.gallery.thumbnail(rec.id) is not None  # in a temp folder, not in the project
    with pytest.raises(ProjectReadOnlyError) as ei:
        p.add_asset(kind="image", data=png(), ext="png", generator="t", params={})
    assert "read-only" in str(ei.value)
    with pytest.raises(ProjectReadOnlyError):
        p.save_meta()
    with pytest.raises(ProjectReadOnlyError):
        p.gallery.set_favorite(rec.id, True)
    with pytest.raises(ProjectReadOnlyError):
        p.gallery.restore(rec.id)
    p.close()
    assert snapshot(root) == before  # never rewritten behind the user's back


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"format": "genstudio.project", "schema_ver', "not valid JSON"),
        (b"\x00\x00\x00\x00", "not valid JSON"),
    ],
)
def test_truncated_or_corrupt_project_json_opens_read_only(made, content, needle):
    root, recs = made
    (root / PROJECT_FILE).write_bytes(content)
    _assert_read_only_and_untouched(root, needle, len(recs))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: [d], "JSON object"),
        (lambda d: "a string", "JSON object"),
        (lambda d: {k: v for k, v in d.items() if k != "name"}, "'name'"),
        (lambda d: {**d, "name": 5}, "'name'"),
        (lambda d: {**d, "name": "  "}, "empty name"),
        (lambda d: {**d, "meta": []}, "'meta'"),
        (lambda d: {**d, "schema_version": "2"}, "schema version"),
        (lambda d: {k: v for k, v in d.items() if k != "schema_version"}, "schema version"),
        (lambda d: {**d, "format": "other.app"}, "format"),
        (lambda d: {**d, "schema_version": 99}, "newer GenStudio"),
    ],
)
def test_valid_json_with_the_wrong_shape_opens_read_only(made, change, needle):
    root, recs = made
    pf = root / PROJECT_FILE
    pf.write_text(json.dumps(change(json.loads(pf.read_text()))))
    _assert_read_only_and_untouched(root, needle, len(recs))


def test_not_a_project(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectError, match="not a GenStudio project"):
        Project.open(tmp_path / "empty")
    with pytest.raises(ProjectError, match="no folder"):
        Project.open(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        Project.open(tmp_path / "file.txt")


def test_unreadable_project_json_is_a_clear_error(made, monkeypatch):
    # Tests run as root here, where chmod 000 does not stop reads: simulate the
    # PermissionError the OS would raise for a normal user.
    # (files are opened with os.open by core.atomic.read_file_bytes)
    root, _ = made
    real = os.open

    def deny(path, *a, **kw):
        if Path(path).name == PROJECT_FILE:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ProjectError) as ei:
        Project.open(root)
    assert "permission denied" in str(ei.value)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores chmod 000"
)
def test_chmod_000_folder_is_a_clear_error(made):  # pragma: no cover - not as root
    root, _ = made
    os.chmod(root, 0)
    try:
        with pytest.raises(ProjectError):
            Project.open(root)
    finally:
        os.chmod(root, 0o755)


def test_unreadable_assets_folder_is_a_clear_error(made, monkeypatch):
    # os.scandir is patched to raise what an unreadable folder raises (root ignores chmod).
    root, _ = made
    real = os.scandir

    def deny(path="."):
        if Path(path).name == "assets":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(gallery_mod.os, "scandir", deny)
    p = Project.open(root)
    with pytest.raises(GalleryError) as ei:
        _ = p.gallery
    assert "cannot be read (permission denied)" in str(ei.value)
    p.close()


def test_assets_path_that_is_a_file(made):
    root, _ = made
    before = snapshot(root)
    os.rename(root / "assets", root / "assets-moved")
    (root / "assets").write_text("not a folder")
    with pytest.raises(ProjectError, match="should be a folder but is a file"):
        Project.open(root)
    os.remove(root / "assets")
    os.rename(root / "assets-moved", root / "assets")
    assert snapshot(root) == before


def test_scan_of_a_file_instead_of_a_folder_is_a_gallery_error(tmp_path):
    (tmp_path / "assets").write_text("x")
    with pytest.raises(GalleryError, match="not a folder"):
        gallery_mod.Gallery(tmp_path)


# --------------------------------------------------------------------------- gallery.sqlite


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b"this is not a database at all" * 100,
        _half,
        lambda b: b[:100],
        lambda b: b[:4096] + b"\x00" * (len(b) - 4096),
    ],
    ids=["garbage", "truncated-half", "truncated-header", "zeroed-pages"],
)
def test_a_damaged_index_is_moved_aside_and_rebuilt(made, damage):
    root, recs = made
    db = root / "gallery.sqlite"
    good = db.read_bytes()
    bad = damage(good)
    db.write_bytes(bad)
    for side in ("-wal", "-shm"):
        (root / f"gallery.sqlite{side}").unlink(missing_ok=True)
    p = Project.open(root)
    g = p.gallery
    assert not p.read_only
    asides = sorted(root.glob("gallery.sqlite.corrupt-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == bad  # kept, never deleted
    assert any("moved aside" in m and "rebuilt" in m for m in g.messages)
    assert g.count() == len(recs)
    assert g.get(recs[0].id).tags == ["keep"]  # user state came back from the sidecar
    p.close()


def test_an_index_that_is_a_folder_is_moved_aside(made):
    root, recs = made
    (root / "gallery.sqlite").unlink()
    (root / "gallery.sqlite").mkdir()
    p = Project.open(root)
    assert p.gallery.count() == len(recs)
    assert any(x.is_dir() for x in root.glob("gallery.sqlite.corrupt-*"))
    p.close()


def test_a_foreign_sqlite_file_is_moved_aside(made):
    import sqlite3

    root, recs = made
    db = root / "gallery.sqlite"
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE someone_elses(x)")
    conn.commit()
    conn.close()
    p = Project.open(root)
    assert p.gallery.count() == len(recs)
    assert list(root.glob("gallery.sqlite.corrupt-*"))
    p.close()


def test_a_deleted_index_is_rebuilt_silently(made):
    root, recs = made
    for side in ("", "-wal", "-shm"):
        (root / f"gallery.sqlite{side}").unlink(missing_ok=True)
    p = Project.open(root)
    assert p.gallery.count() == len(recs) and p.gallery.messages == []
    p.close()


# --------------------------------------------------------------------------- sidecars


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b'{"format": "genstudio.asset", "id": "2026', "not valid JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b'{"id": "x"}', "damaged"),
    ],
)
@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "index-lost"])
def test_a_damaged_sidecar_is_reported_and_its_file_kept(made, content, needle, indexed):
    root, recs = made
    victim = recs[1]
    side = root / "assets" / f"{victim.id}.json"
    side.write_bytes(content)
    if not indexed:
        for s in ("", "-wal", "-shm"):
            (root / f"gallery.sqlite{s}").unlink(missing_ok=True)
    file_bytes = (root / "assets" / victim.file).read_bytes()
    p = Project.open(root)
    rep = p.gallery.open_report
    assert rep.bad_sidecars == [side.name]
    msg = " ".join(rep.messages)
    assert needle in msg and side.name in msg and "kept" in msg
    assert any(side.name in m for m in p.gallery.messages)
    # the file is kept and is not re-imported over its damaged sidecar
    assert (root / "assets" / victim.file).read_bytes() == file_bytes
    assert side.read_bytes() == content
    assert victim.id not in rep.added
    assert len(list((root / "assets").glob("*.json"))) == len(recs)  # no import sidecar
    if indexed:
        assert p.gallery.get(victim.id).sha256 == victim.sha256  # last good copy still shown
        with pytest.raises(AssetError) as ei:
            p.gallery.set_rating(victim.id, 5)
        assert "will not overwrite" in str(ei.value)
        assert side.read_bytes() == content
    else:
        assert p.gallery.count() == len(recs) - 1
    # reported again while it stays broken; other assets unaffected
    assert p.gallery.reconcile().bad_sidecars == [side.name]
    assert p.gallery.get(recs[0].id).tags == ["keep"]
    p.close()


def test_a_sidecar_from_a_newer_genstudio_is_not_touched(made):
    root, recs = made
    side = root / "assets" / f"{recs[2].id}.json"
    doc = json.loads(side.read_text())
    doc["sidecar_version"] = 7
    side.write_text(json.dumps(doc))
    raw = side.read_bytes()
    p = Project.open(root)
    assert "newer GenStudio" in " ".join(p.gallery.open_report.messages)
    p.close()
    assert side.read_bytes() == raw


# --------------------------------------------------------------------------- asset files


def test_all_asset_files_missing(made):
    root, recs = made
    for r in recs:
        (root / "assets" / r.file).unlink()
    p = Project.open(root)
    assert sorted(p.gallery.open_report.missing) == sorted(r.id for r in recs)
    shown = p.gallery.query(Query(limit=None))
    assert len(shown) == 3 and {r.status for r in shown} == {"missing"}
    assert all(p.gallery.thumbnail(r.id) is None for r in shown)
    # sidecars (the truth) are untouched
    assert all((root / "assets" / f"{r.id}.json").exists() for r in recs)
    p.close()


def test_errors_are_genstudio_errors_with_messages(tmp_path):
    with pytest.raises(GenStudioError) as ei:
        Project.open(tmp_path / "missing")
    assert ei.value.user_message()
