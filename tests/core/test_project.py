"""Projects on disk: layout, create/open, migrations, add_asset write order."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import pytest
from PIL import Image

import genstudio.core.project as project_mod
from genstudio.core.assets import is_asset_id, read_sidecar
from genstudio.core.errors import (
    AssetError,
    GalleryError,
    GenStudioError,
    ProjectError,
    ProjectReadOnlyError,
)
from genstudio.core.gallery import Gallery, Query
from genstudio.core.project import PROJECT_FILE, SCHEMA_VERSION, Project
from genstudio.generators.base import Output


def png(color=(200, 30, 30), size=(24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "p", name="Test")
    yield p
    p.close()


def test_create_makes_the_layout(tmp_path):
    p = Project.create(tmp_path / "new", name="My Project")
    doc = json.loads((tmp_path / "new" / PROJECT_FILE).read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["format"] == "genstudio.project" and doc["name"] == "My Project"
    assert doc["meta"] == {} and doc["id"]
    for d in (p.assets_dir, p.models_dir, p.datasets_dir, p.cache_dir):
        assert d.is_dir() and d.parent == p.root
    assert not p.read_only and p.read_only_reason is None
    p.close()


def test_create_uses_the_folder_name_by_default(tmp_path):
    p = Project.create(tmp_path / "Castle Sprites")
    assert p.name == "Castle Sprites"
    p.close()


def test_create_refuses_a_non_empty_folder_and_an_existing_project(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not empty"):
        Project.create(tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already a project"):
        Project.create(tmp_path / "p")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        Project.create(tmp_path / "afile")


def test_open_round_trip_and_save_meta(tmp_path):
    p = Project.create(tmp_path / "p", name="A")
    p.name = "Renamed"
    p.meta["description"] = "sprites for the castle level"
    p.save_meta()
    p.close()
    q = Project.open(tmp_path / "p")
    assert q.name == "Renamed" and q.meta == {"description": "sprites for the castle level"}
    assert not q.read_only
    with pytest.raises(ProjectError):
        q.meta["bad"] = object()
        q.save_meta()
    q.close()


def test_open_keeps_unknown_top_level_keys(tmp_path):
    p = Project.create(tmp_path / "p")
    p.close()
    pf = tmp_path / "p" / PROJECT_FILE
    doc = json.loads(pf.read_text())
    doc["plugin_data"] = {"x": 1}
    pf.write_text(json.dumps(doc))
    q = Project.open(tmp_path / "p")
    q.save_meta()
    q.close()
    assert json.loads(pf.read_text())["plugin_data"] == {"x": 1}


def test_open_recreates_missing_subfolders(tmp_path):
    p = Project.create(tmp_path / "p")
    p.close()
    (tmp_path / "p" / "cache").rmdir()
    q = Project.open(tmp_path / "p")
    assert q.cache_dir.is_dir()
    q.close()


def _write_v1(root, name="Old one"):
    root.mkdir(parents=True)
    raw = json.dumps({"version": 1, "name": name, "created": "2025-01-01T00:00:00Z"}).encode()
    (root / PROJECT_FILE).write_bytes(raw)
    return raw


def test_v1_project_migrates_to_v2_with_a_backup_first(tmp_path):
    root = tmp_path / "old"
    raw = _write_v1(root)
    p = Project.open(root)
    assert not p.read_only and p.name == "Old one"
    assert (root / "project.json.v1.bak").read_bytes() == raw
    doc = json.loads((root / PROJECT_FILE).read_text())
    assert doc["schema_version"] == 2 and "version" not in doc
    assert doc["format"] == "genstudio.project" and doc["meta"] == {} and doc["id"]
    assert doc["created"] == "2025-01-01T00:00:00Z"
    p.close()
    # opening again changes nothing
    before = (root / PROJECT_FILE).read_bytes()
    Project.open(root).close()
    assert (root / PROJECT_FILE).read_bytes() == before
    assert sorted(x.name for x in root.glob("project.json.*")) == ["project.json.v1.bak"]


def test_migrations_run_step_by_step(tmp_path, monkeypatch):
    calls = []

    def v2_to_v3(doc):
        calls.append(2)
        return {**doc, "schema_version": 3, "added_in_v3": True}

    real_v1 = project_mod.MIGRATIONS[1]

    def v1_to_v2(doc):
        calls.append(1)
        return real_v1(doc)

    monkeypatch.setattr(project_mod, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(project_mod.MIGRATIONS, 1, v1_to_v2)
    monkeypatch.setitem(project_mod.MIGRATIONS, 2, v2_to_v3)
    root = tmp_path / "old"
    _write_v1(root)
    p = Project.open(root)
    assert calls == [1, 2] and not p.read_only
    doc = json.loads((root / PROJECT_FILE).read_text())
    assert doc["schema_version"] == 3 and doc["added_in_v3"] is True
    p.close()


def test_a_failing_migration_opens_read_only_and_rewrites_nothing(tmp_path, monkeypatch):
    def broken(doc):
        raise KeyError("boom")

    monkeypatch.setitem(project_mod.MIGRATIONS, 1, broken)
    root = tmp_path / "old"
    raw = _write_v1(root)
    p = Project.open(root)
    assert p.read_only and "could not be upgraded" in p.read_only_reason
    assert (root / PROJECT_FILE).read_bytes() == raw
    with pytest.raises(ProjectReadOnlyError):
        p.save_meta()
    p.close()


def test_newer_schema_opens_read_only_and_is_never_rewritten(tmp_path):
    p = Project.create(tmp_path / "p")
    p.add_asset(kind="image", data=png(), ext="png", generator="t", params={"prompt": "x"})
    p.close()
    pf = tmp_path / "p" / PROJECT_FILE
    doc = json.loads(pf.read_text())
    doc["schema_version"] = 99
    pf.write_text(json.dumps(doc))
    raw = pf.read_bytes()
    q = Project.open(tmp_path / "p")
    assert q.read_only and "newer GenStudio" in q.read_only_reason
    assert q.gallery.count() == 1  # still browsable
    with pytest.raises(ProjectReadOnlyError):
        q.save_meta()
    with pytest.raises(ProjectReadOnlyError):
        q.add_asset(kind="image", data=png(), ext="png", generator="t", params={})
    rec = q.gallery.query()[0]
    for call in (
        lambda: q.gallery.set_rating(rec.id, 3),
        lambda: q.gallery.trash(rec.id),
        lambda: q.gallery.set_tags(rec.id, ["x"]),
        lambda: q.gallery.add(rec),
    ):
        with pytest.raises(ProjectReadOnlyError):
            call()
    assert q.gallery.rebuild() == 1  # in memory only
    q.close()
    assert pf.read_bytes() == raw
    assert not (tmp_path / "p" / "cache" / "thumbs").exists()


def test_add_asset_writes_temp_sidecar_then_file_then_sidecar_then_index(proj, monkeypatch):
    # The complete sidecar exists (as a temp file) before the asset file lands, so a kill
    # between the two never leaves a file without its prompt and seed (issue 11, defect 4).
    order = []
    real_temp, real_bytes, real_commit, real_add = (
        project_mod.write_temp,
        project_mod.atomic_write_bytes,
        project_mod._commit_sidecar,
        Gallery.add,
    )

    def wt(path, data):
        order.append(("temp sidecar", path.name))
        return real_temp(path, data)

    def wb(path, data):
        temps = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        assert any(".json." in p.name for p in temps), "the sidecar must be written first"
        order.append(("file", path.name))
        real_bytes(path, data)

    def ws(tmp, path, data):
        assert (path.parent / f"{path.stem}.png").exists(), "file before the sidecar's rename"
        order.append(("sidecar", path.name))
        real_commit(tmp, path, data)

    def add(self, rec):
        assert (self.assets_dir / f"{rec.id}.json").exists(), "sidecar must exist first"
        order.append(("index", rec.id))
        real_add(self, rec)

    monkeypatch.setattr(project_mod, "write_temp", wt)
    monkeypatch.setattr(project_mod, "atomic_write_bytes", wb)
    monkeypatch.setattr(project_mod, "_commit_sidecar", ws)
    monkeypatch.setattr(Gallery, "add", add)
    data = png()
    rec = proj.add_asset(
        kind="image",
        data=data,
        ext="PNG",
        generator="images.tiny",
        params={"prompt": "red knight", "steps": 3},
        seed=7,
        model_id="tiny",
        model_sha256="b" * 64,
    )
    assert [o[0] for o in order] == ["temp sidecar", "file", "sidecar", "index"]
    assert is_asset_id(rec.id) and rec.file == f"{rec.id}.png"
    path = proj.asset_path(rec)
    assert path.read_bytes() == data
    assert rec.sha256 == hashlib.sha256(data).hexdigest() and rec.size == len(data)
    side = read_sidecar(proj.assets_dir / f"{rec.id}.json")
    assert side == rec
    assert side.params == {"prompt": "red knight", "steps": 3} and side.seed == 7
    assert side.model_id == "tiny" and side.model_sha256 == "b" * 64
    assert proj.gallery.get(rec.id) == rec


def test_add_asset_from_a_generator_output(proj):
    parent = proj.add_asset(kind="sprite", data=png(), ext="png", generator="g", params={})
    out = Output(
        kind="sprite",
        data=png((0, 0, 255)),
        ext="png",
        params={"prompt": "blue slime"},
        seed=3,
        model_id="m1",
        parent=parent.id,
        extra={"frames": 4},
        name_hint="slime_idle",
    )
    rec = proj.add_asset(out, generator="sprites.model")
    assert rec.kind == "sprite" and rec.seed == 3 and rec.parent == parent.id
    assert rec.extra == {"frames": 4, "name_hint": "slime_idle"}
    assert rec.generator == "sprites.model" and rec.prompt == "blue slime"
    # keywords override the output
    rec2 = proj.add_asset(out, generator="g", seed=9, params={"prompt": "other"})
    assert rec2.seed == 9 and rec2.prompt == "other"
    assert out.extra == {"frames": 4}  # the caller's output is not changed


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"ext": "json"}, "sidecars"),
        ({"ext": "../x"}, "extension"),
        ({"ext": None}, "extension"),
        ({"data": "text"}, "bytes"),
        ({"kind": ""}, "kind"),
        ({"generator": ""}, "generator"),
        ({"params": {"f": object()}}, "parameters"),
        ({"params": {"nan": float("nan")}}, "parameters"),
        ({"params": [1]}, "dict"),
        ({"seed": "3"}, "seed"),
        ({"parent": "../../etc"}, "parent"),
    ],
)
def test_add_asset_rejects_bad_input_and_writes_nothing(proj, kwargs, needle):
    args = dict(kind="image", data=png(), ext="png", generator="g", params={"prompt": "x"})
    args.update(kwargs)
    with pytest.raises(AssetError) as ei:
        proj.add_asset(**args)
    assert needle in str(ei.value)
    assert list(proj.assets_dir.iterdir()) == []
    assert proj.gallery.count() == 0


@pytest.mark.parametrize("step", ["write_temp", "atomic_write_bytes", "_commit_sidecar"])
def test_a_failed_write_leaves_no_orphan_file(proj, monkeypatch, step):
    real = getattr(project_mod, step)
    calls = []

    def fail(*args):
        calls.append(args)
        if step == "_commit_sidecar":  # the temp sidecar is there: fail like os.replace would
            args[0].unlink()
        raise GenStudioError("Could not write: disk full")

    monkeypatch.setattr(project_mod, step, fail)
    with pytest.raises(GenStudioError, match="disk full"):
        proj.add_asset(kind="image", data=png(), ext="png", generator="g", params={})
    assert calls and real is not fail
    assert list(proj.assets_dir.iterdir()) == []
    assert proj.gallery.count() == 0


def test_an_index_failure_after_the_sidecar_keeps_the_asset(proj, monkeypatch):
    def fail(self, rec):
        raise GalleryError("index broken")

    monkeypatch.setattr(Gallery, "add", fail)
    rec = proj.add_asset(kind="image", data=png(), ext="png", generator="g", params={})
    monkeypatch.undo()
    assert proj.gallery.count() == 0
    report = proj.gallery.reconcile()
    assert report.added == [rec.id]
    assert proj.gallery.get(rec.id).sha256 == rec.sha256


def test_a_closed_project_refuses_work(tmp_path):
    p = Project.create(tmp_path / "p")
    p.close()
    with pytest.raises(ProjectError, match="closed"):
        p.add_asset(kind="image", data=png(), ext="png", generator="g", params={})
    with pytest.raises(ProjectError, match="closed"):
        _ = p.gallery


def test_add_asset_from_many_threads_while_the_gui_queries(proj):
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k):
        try:
            for i in range(15):
                rec = proj.add_asset(
                    kind="image",
                    data=png((k * 40, i, 0)),
                    ext="png",
                    generator="g",
                    params={"prompt": f"worker {k} item {i}"},
                )
                with lock:
                    ids.append(rec.id)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            while not stop.is_set():
                proj.gallery.query(Query(text="worker", limit=50))
                proj.gallery.count()
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    r.join()
    assert not errors
    assert len(set(ids)) == 60
    assert proj.gallery.count() == 60
    assert proj.gallery.reconcile().changed is False
