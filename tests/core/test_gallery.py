"""Gallery index: queries, search, user state in sidecars, reconcile, thumbnails, threads."""

from __future__ import annotations

import io
import itertools
import json
import os
import sqlite3
import threading
import time

import pytest
from PIL import Image

import genstudio.core.gallery as gallery_mod
import genstudio.core.project as project_mod
from genstudio.core import thumbs as thumbs_mod
from genstudio.core.assets import read_sidecar, sha256_bytes
from genstudio.core.errors import AssetError, GalleryError
from genstudio.core.gallery import Query
from genstudio.core.project import Project


def png(color=(200, 30, 30), size=(24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def proj(tmp_path, monkeypatch):
    # created times one day apart, so date filters and ordering are testable
    days = itertools.count(1)
    monkeypatch.setattr(
        project_mod, "now_iso", lambda: f"2026-03-{next(days):02d}T12:00:00.000000Z"
    )
    p = Project.create(tmp_path / "p", name="G")
    yield p
    p.close()


def add(p, prompt, *, kind="image", model=None, ext="png", data=None, **kw):
    return p.add_asset(
        kind=kind,
        data=data if data is not None else png((len(prompt) * 7 % 256, 10, 10)),
        ext=ext,
        generator="t",
        params={"prompt": prompt},
        model_id=model,
        **kw,
    )


@pytest.fixture
def filled(proj):
    recs = [
        add(proj, "a red knight in a castle", model="m1"),  # 03-02 (create used 03-01)
        add(proj, "blue slime idle animation", kind="sprite", model="m2"),
        add(proj, "night forest with fireflies", model="m1"),
        add(proj, "Café on a rainy street", model="m2"),
        add(proj, "calm piano song", kind="music", ext="mid", data=b"MThd\x00"),
        add(proj, "knightly order banner", kind="sprite", model="m1"),
    ]
    return proj, recs


def ids(recs):
    return [r.id for r in recs]


def test_index_is_sqlite_in_wal_mode(proj):
    _ = proj.gallery
    conn = sqlite3.connect(proj.root / "gallery.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_get_and_unknown(filled):
    p, recs = filled
    assert p.gallery.get(recs[0].id) == recs[0]
    with pytest.raises(AssetError, match="no asset"):
        p.gallery.get("20990101-000000-000000")


def test_text_search_prefix_and_and(filled):
    p, recs = filled
    g = p.gallery
    assert set(ids(g.query(Query(text="knight")))) == {recs[0].id, recs[5].id}  # knightly too
    assert ids(g.query(Query(text="kni cas"))) == [recs[0].id]
    assert ids(g.query(Query(text="castle KNIGHT"))) == [recs[0].id]
    assert ids(g.query(Query(text="cafe"))) == [recs[3].id]  # diacritics folded
    assert g.query(Query(text="dragon")) == []
    # query syntax is never passed through raw
    for nasty in ('"', "knight OR", "(*", "NEAR(a b)", "-x", "col:val", "'; DROP TABLE assets"):
        g.query(Query(text=nasty))
        g.count(Query(text=nasty))
    assert g.count(Query(text="   ")) == 6


def test_text_search_finds_tags(filled):
    p, recs = filled
    p.gallery.set_tags(recs[2].id, ["Boss Level", "wip"])
    assert ids(p.gallery.query(Query(text="bos"))) == [recs[2].id]


def test_filters(filled):
    p, recs = filled
    g = p.gallery
    assert set(ids(g.query(Query(kind="sprite")))) == {recs[1].id, recs[5].id}
    assert set(ids(g.query(Query(model_id="m2")))) == {recs[1].id, recs[3].id}
    assert ids(g.query(Query(date_from="2026-03-03", date_to="2026-03-04", order="oldest"))) == [
        recs[1].id,
        recs[2].id,
    ]
    assert ids(g.query(Query(date_to="2026-03-02"))) == [recs[0].id]  # whole day included
    g.set_favorite(recs[3].id, True)
    g.set_rating(recs[3].id, 5)
    g.set_rating(recs[2].id, 3)
    assert ids(g.query(Query(favorite=True))) == [recs[3].id]
    assert len(g.query(Query(favorite=False))) == 5
    assert set(ids(g.query(Query(min_rating=3)))) == {recs[2].id, recs[3].id}
    assert ids(g.query(Query(min_rating=4))) == [recs[3].id]
    g.set_tags(recs[0].id, ["hero", "final"])
    g.set_tags(recs[1].id, ["hero"])
    assert set(ids(g.query(Query(tags=("HERO",))))) == {recs[0].id, recs[1].id}
    assert ids(g.query(Query(tags=("hero", "final")))) == [recs[0].id]
    assert ids(g.query(Query(text="knight", kind="image", model_id="m1"))) == [recs[0].id]
    assert g.kinds() == ["image", "music", "sprite"]
    assert g.models() == ["m1", "m2"]
    assert g.tags() == ["final", "hero"]


def test_order_and_paging(filled):
    p, recs = filled
    g = p.gallery
    assert ids(g.query()) == ids(reversed(recs))
    assert ids(g.query(Query(order="oldest"))) == ids(recs)
    pages = [g.query(Query(limit=4, offset=o)) for o in (0, 4, 8)]
    assert [len(x) for x in pages] == [4, 2, 0]
    assert ids(pages[0] + pages[1]) == ids(reversed(recs))
    assert len(g.query(Query(limit=None))) == 6
    assert g.query(Query(limit=0)) == []
    assert g.count(Query(limit=1)) == 6  # count ignores paging
    with pytest.raises(GalleryError, match="order"):
        g.query(Query(order="random"))


def test_user_state_lives_in_the_sidecar(filled):
    p, recs = filled
    g = p.gallery
    rid = recs[0].id
    side = p.assets_dir / f"{rid}.json"
    g.set_tags(rid, ["hero", "Hero", " draft "])
    g.add_tag(rid, "final")
    g.add_tag(rid, "HERO")
    g.remove_tag(rid, "DRAFT")
    g.set_favorite(rid, True)
    g.set_rating(rid, 4)
    s = read_sidecar(side)
    assert s.tags == ["hero", "final"] and s.favorite and s.rating == 4
    assert s.modified > recs[0].created
    assert g.get(rid).tags == ["hero", "final"]
    with pytest.raises(AssetError, match="0 to 5"):
        g.set_rating(rid, 6)
    with pytest.raises(AssetError):
        g.set_rating(rid, True)
    with pytest.raises(AssetError, match="no asset"):
        g.set_favorite("20990101-000000-000000", True)
    assert read_sidecar(side).rating == 4
    # the index is derived: a rebuild from sidecars keeps the state
    assert g.rebuild() == 6
    r = g.get(rid)
    assert r.tags == ["hero", "final"] and r.favorite and r.rating == 4
    assert [x.name for x in p.assets_dir.iterdir() if x.name.endswith(".tmp")] == []


def test_mutations_start_from_the_sidecar_not_the_index(filled):
    p, recs = filled
    rid = recs[1].id
    side = p.assets_dir / f"{rid}.json"
    doc = json.loads(side.read_text())
    doc["tags"] = ["edited-outside"]
    side.write_text(json.dumps(doc))
    p.gallery.set_rating(rid, 2)
    s = read_sidecar(side)
    assert s.tags == ["edited-outside"] and s.rating == 2
    assert p.gallery.get(rid).tags == ["edited-outside"]


def test_trash_and_restore(filled):
    p, recs = filled
    g = p.gallery
    g.trash(recs[0].id)
    assert recs[0].id not in ids(g.query())
    assert ids(g.query(Query(trashed=True))) == [recs[0].id]
    assert g.count() == 5 and g.count(Query(trashed=True)) == 1
    assert read_sidecar(p.assets_dir / f"{recs[0].id}.json").trashed
    assert p.asset_path(recs[0]).exists()  # trash keeps the file
    g.restore(recs[0].id)
    assert g.count() == 6 and not g.get(recs[0].id).trashed


def test_delete_only_from_the_trash(filled):
    p, recs = filled
    g = p.gallery
    with pytest.raises(AssetError, match="trash"):
        g.delete(recs[0].id)
    g.trash(recs[0].id)
    g.delete(recs[0].id)
    assert not p.asset_path(recs[0]).exists()
    assert not (p.assets_dir / f"{recs[0].id}.json").exists()
    with pytest.raises(AssetError):
        g.get(recs[0].id)
    assert g.reconcile().added == []


# --------------------------------------------------------------------------- reconcile


def test_reconcile_missing_then_restored(filled):
    p, recs = filled
    path = p.asset_path(recs[2])
    data = path.read_bytes()
    p.close()
    path.unlink()
    q = Project.open(p.root)
    rep = q.gallery.open_report
    assert rep.missing == [recs[2].id] and rep.added == []
    r = q.gallery.get(recs[2].id)
    assert r.status == "missing"
    assert recs[2].id in ids(q.gallery.query())  # still visible
    assert q.gallery.thumbnail(recs[2].id) is None
    assert q.gallery.reconcile().missing == []  # reported once
    path.write_bytes(data)
    rep = q.gallery.reconcile()
    assert rep.restored == [recs[2].id]
    assert q.gallery.get(recs[2].id).status == "ok"
    q.close()


def test_reconcile_corrupt_file(filled):
    p, recs = filled
    g = p.gallery
    path = p.asset_path(recs[0])
    good = path.read_bytes()
    path.write_bytes(png((1, 2, 3)))
    rep = g.reconcile()
    assert rep.corrupt == [recs[0].id] and "sha256" in " ".join(rep.messages)
    assert g.get(recs[0].id).status == "corrupt"
    assert g.reconcile().corrupt == []
    path.write_bytes(good)
    assert g.reconcile().restored == [recs[0].id]
    assert g.get(recs[0].id).status == "ok"


def test_reconcile_imports_files_without_a_sidecar(proj):
    g = proj.gallery
    data = png((9, 9, 9))
    (proj.assets_dir / "dropped by hand.png").write_bytes(data)
    (proj.assets_dir / "20260101-101010-abcdef.mid").write_bytes(b"MThd")
    rep = g.reconcile()
    assert len(rep.added) == 2
    assert "20260101-101010-abcdef" in rep.added
    recs = {r.file: r for r in g.query(Query(limit=None))}
    r = recs["dropped by hand.png"]
    assert r.generator == "import" and r.kind == "image" and r.sha256 == sha256_bytes(data)
    assert read_sidecar(proj.assets_dir / f"{r.id}.json") == r
    assert recs["20260101-101010-abcdef.mid"].kind == "music"
    assert g.query(Query(text="dropped"))[0].id == r.id
    assert g.reconcile().changed is False


def test_reconcile_adds_new_sidecars_and_reads_edited_ones(filled, tmp_path):
    p, recs = filled
    other = Project.create(tmp_path / "other")
    rec = add(other, "copied over dragon")
    other.close()
    for name in (rec.file, f"{rec.id}.json"):
        (p.assets_dir / name).write_bytes((other.assets_dir / name).read_bytes())
    side = p.assets_dir / f"{recs[0].id}.json"
    doc = json.loads(side.read_text())
    doc["rating"] = 5
    side.write_text(json.dumps(doc))
    rep = p.gallery.reconcile()
    assert rep.added == [rec.id]
    assert p.gallery.query(Query(text="dragon"))[0].id == rec.id
    assert ids(p.gallery.query(Query(min_rating=5))) == [recs[0].id]


def test_reconcile_writes_back_a_deleted_sidecar_from_the_index(filled):
    p, recs = filled
    side = p.assets_dir / f"{recs[1].id}.json"
    side.unlink()
    rep = p.gallery.reconcile()
    assert side.exists() and read_sidecar(side) == recs[1]
    assert any("written again" in m for m in rep.messages)
    assert rep.added == [] and rep.missing == []


def test_reconcile_skips_temp_and_hidden_files_and_clears_stale_temps(proj):
    fresh = proj.assets_dir / ".x.png.1a2b3c4d.tmp"
    stale = proj.assets_dir / ".y.json.5e6f7a8b.tmp"
    fresh.write_bytes(b"half")
    stale.write_bytes(b"old half")
    old = time.time() - 2 * gallery_mod.STALE_TEMP_S
    os.utime(stale, (old, old))
    (proj.assets_dir / ".DS_Store").write_bytes(b"mac")
    rep = proj.gallery.reconcile()
    assert rep.added == [] and proj.gallery.count() == 0
    assert fresh.exists() and not stale.exists()


def test_reconcile_hashes_only_what_changed(filled, monkeypatch):
    p, recs = filled
    g = p.gallery
    calls = []
    real = gallery_mod.sha256_file

    def counting(path):
        calls.append(path.name)
        return real(path)

    monkeypatch.setattr(gallery_mod, "sha256_file", counting)
    assert g.reconcile().changed is False
    assert calls == []
    path = p.asset_path(recs[3])
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert g.reconcile().changed is False
    assert calls == [recs[3].file]


def test_reconcile_after_reopen_costs_no_sidecar_reads(filled, monkeypatch):
    p, _ = filled
    p.close()
    calls = []
    real = gallery_mod.read_sidecar
    monkeypatch.setattr(gallery_mod, "read_sidecar", lambda path: calls.append(path) or real(path))
    q = Project.open(p.root)
    assert q.gallery.open_report.changed is False and calls == []
    q.close()


# --------------------------------------------------------------------------- thumbnails


def test_thumbnails_are_cached_pngs(proj, monkeypatch):
    rec = add(proj, "big", data=png((10, 200, 10), size=(300, 150)))
    g = proj.gallery
    path = g.thumbnail(rec.id, 128)
    assert path == proj.cache_dir / "thumbs" / f"{rec.id}_128.png"
    with Image.open(path) as im:
        assert im.size == (128, 64)
    rendered = []
    real = thumbs_mod.render_thumbnail
    monkeypatch.setattr(
        thumbs_mod, "render_thumbnail", lambda *a, **k: rendered.append(a) or real(*a, **k)
    )
    assert g.thumbnail(rec.id, 128) == path and rendered == []  # cache hit
    p64 = g.thumbnail(rec.id, 64)
    assert p64.name == f"{rec.id}_64.png" and len(rendered) == 1
    small = add(proj, "small", data=png(size=(20, 10)))
    with Image.open(g.thumbnail(small.id)) as im:
        assert im.size == (20, 10)  # never enlarged


def test_sprite_thumbnails_stay_crisp(proj):
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    for x in range(64):
        for y in range(64):
            if (x // 8 + y // 8) % 2:
                im.putpixel((x, y), (255, 0, 0, 255))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    rec = add(proj, "checker", kind="sprite", data=buf.getvalue())
    with Image.open(proj.gallery.thumbnail(rec.id, 32)) as t:
        colors = {c for _, c in t.convert("RGBA").getcolors(1024)}
    assert colors == {(0, 0, 0, 0), (255, 0, 0, 255)}


def test_thumbnail_none_for_non_images_and_unreadable(proj):
    midi = add(proj, "song", kind="music", ext="mid", data=b"MThd\x00\x00")
    wav = add(proj, "sound", kind="audio", ext="wav", data=b"RIFF....WAVE")
    broken = add(proj, "broken png", data=b"\x89PNG\r\n\x1a\n garbage")
    g = proj.gallery
    assert g.thumbnail(midi.id) is None
    assert g.thumbnail(wav.id) is None
    assert g.thumbnail(broken.id) is None
    with pytest.raises(AssetError):
        g.thumbnail("20990101-000000-000000")
    for bad in (0, 4096, "128", True):
        with pytest.raises(GalleryError):
            g.thumbnail(midi.id, bad)


def test_a_corrupt_file_drops_its_cached_thumbnail(filled):
    p, recs = filled
    g = p.gallery
    t = g.thumbnail(recs[0].id)
    assert t.exists()
    p.asset_path(recs[0]).write_bytes(png((0, 0, 0)))
    g.reconcile()
    assert not t.exists()


# --------------------------------------------------------------------------- threads


def test_gallery_is_safe_across_threads(filled):
    p, recs = filled
    g = p.gallery
    errors: list[BaseException] = []
    stop = threading.Event()

    def rater(rid):
        try:
            for i in range(30):
                g.set_rating(rid, i % 6)
                g.add_tag(rid, f"t{i % 3}")
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    def reader():
        try:
            while not stop.is_set():
                g.query(Query(text="kni", min_rating=1))
                g.count(Query(tags=("t1",)))
                g.thumbnail(recs[0].id)
                g.reconcile()
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=rater, args=(r.id,)) for r in recs[:4]]
    rd = threading.Thread(target=reader)
    rd.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    rd.join()
    assert not errors
    for r in recs[:4]:
        s = read_sidecar(p.assets_dir / f"{r.id}.json")
        assert s.rating == 29 % 6 and s.tags == ["t0", "t1", "t2"]
        got = g.get(r.id)
        assert got.rating == s.rating and got.tags == s.tags


@pytest.mark.parametrize("left_behind", [b"", b"\x00" * 500], ids=["empty", "zero-filled"])
def test_a_damaged_cached_thumbnail_is_made_again(proj, left_behind):
    # what a power cut could leave, since cache files are not fsynced
    rec = add(proj, "thumb", data=png(size=(64, 64)))
    path = proj.gallery.thumbnail(rec.id)
    path.write_bytes(left_behind)
    assert proj.gallery.thumbnail(rec.id) == path
    with Image.open(path) as im:
        assert im.size == (64, 64)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_sprite_sheet_thumbnail_is_the_first_frame_enlarged_crisply(tmp_path):
    import io

    from PIL import Image

    from genstudio.core.project import Project

    proj = Project.create(tmp_path / "p")
    sheet = Image.new("RGBA", (6 * 32, 4 * 32), (0, 0, 0, 0))
    sheet.putpixel((3, 5), (255, 0, 0, 255))  # in frame (0, 0)
    sheet.putpixel((40, 5), (0, 255, 0, 255))  # in frame (0, 1): must not show
    buf = io.BytesIO()
    sheet.save(buf, "PNG")
    rec = proj.add_asset(kind="sprite", data=buf.getvalue(), ext="png", generator="t", params={})
    thumb = Image.open(proj.gallery.thumbnail(rec.id, 128)).convert("RGBA")
    assert thumb.size == (128, 128)
    px = thumb.load()
    assert px[3 * 4, 5 * 4] == (255, 0, 0, 255) and px[3 * 4 + 3, 5 * 4 + 3] == (255, 0, 0, 255)
    assert all(px[x, y][1] != 255 for x in range(128) for y in range(128))
    proj.close()
