"""Sheet exports: PNG, Aseprite JSON (hash + array), Godot 4 SpriteFrames, PixiJS and Unity JSON,
frames, scaling - for GenStudio's 6 x 4 sheet and the Universal LPC layout."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.sprites import export, procedural

DIRS = ["down", "left", "right", "up"]
ANIMS = {"idle": (0, 2, 500), "walk": (2, 4, 125)}


@pytest.fixture(scope="module")
def sheet():
    return procedural.render_sheet({"item": "sword_shield"}, 21)


def test_png_encoder_round_trip_and_determinism(sheet, tmp_path):
    img = export.sheet_image(sheet)
    assert img.shape == (128, 192, 4)
    data = export.encode_png(img)
    assert data == export.encode_png(img.copy())
    p = tmp_path / "s.png"
    p.write_bytes(data)
    with Image.open(p) as im:
        assert im.mode == "RGBA" and im.size == (192, 128)
        back = np.asarray(im)
    assert np.array_equal(back, img)
    # rows are directions, columns frames
    assert np.array_equal(back[32:64, 64:96], sheet[1, 2])
    assert np.array_equal(export.split_image(back), sheet)


@pytest.mark.parametrize("scale", [1, 3])
def test_aseprite_json_hash_and_array(sheet, tmp_path, scale):
    written = export.export_sheet(sheet, tmp_path, "hero", formats=["aseprite"], scale=scale)
    png = tmp_path / ("hero.png" if scale == 1 else f"hero_x{scale}.png")
    base = png.stem
    assert {p.name for p in written} == {png.name, f"{base}.json", f"{base}.array.json"}
    with Image.open(png) as im:
        W, H = im.size
    assert (W, H) == (192 * scale, 128 * scale)
    docs = {
        "hash": json.loads((tmp_path / f"{base}.json").read_text()),
        "array": json.loads((tmp_path / f"{base}.array.json").read_text()),
    }
    assert isinstance(docs["hash"]["frames"], dict) and isinstance(docs["array"]["frames"], list)
    for flavour, doc in docs.items():
        meta = doc["meta"]
        assert meta["image"] == png.name
        # always "1": the PNG is already scaled (PixiJS reads meta.scale as a resolution)
        assert meta["format"] == "RGBA8888" and meta["scale"] == "1"
        assert meta["size"] == {"w": W, "h": H}
        assert meta["app"] and meta["version"]
        assert list(meta)[:6] == ["app", "version", "image", "format", "size", "scale"]
        if flavour == "hash":
            items = list(doc["frames"].items())
        else:
            items = [(f["filename"], f) for f in doc["frames"]]
        assert len(items) == 24
        for i, (name, fr) in enumerate(items):
            assert name == str(i)  # bare index keys: what Phaser looks up
            r = fr["frame"]
            assert 0 <= r["x"] and r["x"] + r["w"] <= W and 0 <= r["y"] and r["y"] + r["h"] <= H
            assert r["w"] == r["h"] == 32 * scale
            assert fr["rotated"] is False and fr["trimmed"] is False
            assert fr["sourceSize"] == {"w": r["w"], "h": r["h"]}
            assert fr["spriteSourceSize"] == {"x": 0, "y": 0, "w": r["w"], "h": r["h"]}
            row, col = divmod(i, 6)
            assert (r["x"], r["y"]) == (col * 32 * scale, row * 32 * scale)
        tags = {t["name"]: t for t in meta["frameTags"]}
        assert len(tags) == 8
        for d, dname in enumerate(DIRS):
            for a, (start, n, ms) in ANIMS.items():
                t = tags[f"{a}_{dname}"]
                assert (t["from"], t["to"]) == (d * 6 + start, d * 6 + start + n - 1)
                assert t["direction"] == "forward"
                for k in range(t["from"], t["to"] + 1):
                    assert items[k][1]["duration"] == ms
        covered = sorted(k for t in tags.values() for k in range(t["from"], t["to"] + 1))
        assert covered == list(range(24))
        piv = meta["slices"][0]["keys"][0]["pivot"]
        assert piv == {"x": 16 * scale, "y": 32 * scale - 1}
    # the frame rects really hold the frames
    with Image.open(png) as im:
        img = np.asarray(im)
    fr = docs["hash"]["frames"]["9"]["frame"]
    crop = img[fr["y"] : fr["y"] + fr["h"], fr["x"] : fr["x"] + fr["w"]]
    assert np.array_equal(crop[::scale, ::scale], sheet[1, 3])


def _read_tres(text: str):
    """A small independent reader of Godot's text resource format (enough for SpriteFrames)."""
    header = re.match(r'\[gd_resource type="(\w+)" load_steps=(\d+) format=(\d+)\]', text)
    assert header, text[:80]
    sections = re.findall(r"^\[(\w+)([^\]]*)\]\s*$", text, flags=re.M)
    ext = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r'\[ext_resource type="Texture2D" path="([^"]+)" id="([^"]+)"\]', text)
    )
    subs = {}
    for m in re.finditer(
        r'\[sub_resource type="AtlasTexture" id="([^"]+)"\]\n'
        r'atlas = ExtResource\("([^"]+)"\)\n'
        r"region = Rect2\((\d+), (\d+), (\d+), (\d+)\)",
        text,
    ):
        subs[m.group(1)] = (m.group(2), tuple(int(m.group(i)) for i in range(3, 7)))
    res = text[text.index("[resource]") :]
    anims = []
    for m in re.finditer(
        r'\{\n"frames": \[(.*?)\],\n"loop": (true|false),\n"name": &"([^"]+)",\n'
        r'"speed": ([0-9.]+)\n\}',
        res,
        flags=re.S,
    ):
        refs = re.findall(
            r'"duration": ([0-9.]+),\n"texture": SubResource\("([^"]+)"\)', m.group(1)
        )
        anims.append(
            {
                "name": m.group(3),
                "loop": m.group(2) == "true",
                "speed": float(m.group(4)),
                "frames": refs,
            }
        )
    return header, sections, ext, subs, anims


@pytest.mark.parametrize("scale", [1, 2])
def test_godot_spriteframes(sheet, tmp_path, scale):
    written = export.export_sheet(sheet, tmp_path, "hero", formats=["godot"], scale=scale)
    tres = [p for p in written if p.suffix == ".tres"][0]
    header, sections, ext, subs, anims = _read_tres(tres.read_text())
    assert header.group(1) == "SpriteFrames" and header.group(3) == "3"
    n_ext = sum(1 for s in sections if s[0] == "ext_resource")
    n_sub = sum(1 for s in sections if s[0] == "sub_resource")
    assert int(header.group(2)) == n_ext + n_sub + 1
    assert n_ext == 1 and n_sub == 24 == len(subs)
    (path,) = ext.values()
    png = tres.parent / path
    assert png.exists()
    with Image.open(png) as im:
        W, H = im.size
    for ext_id, (x, y, w, h) in subs.values():
        assert ext_id in ext
        assert 0 <= x and x + w <= W and 0 <= y and y + h <= H and w == h == 32 * scale
    names = {a["name"]: a for a in anims}
    assert set(names) == {f"{a}_{d}" for a in ANIMS for d in DIRS}
    for a, (_, n, ms) in ANIMS.items():
        for d in DIRS:
            an = names[f"{a}_{d}"]
            assert an["loop"] and len(an["frames"]) == n
            assert an["speed"] == pytest.approx(1000 / ms)
            for dur, ref in an["frames"]:
                assert ref in subs and float(dur) == 1.0
    # frame order: walk_left frame k is the sheet's row 1, column 2 + k
    for k, (_, ref) in enumerate(names["walk_left"]["frames"]):
        assert subs[ref][1][:2] == ((2 + k) * 32 * scale, 32 * scale)
    res = export.export_sheet(
        sheet, tmp_path / "r", "hero", formats=["godot"], godot_res_dir="res://chars"
    )
    assert 'path="res://chars/hero.png"' in [p for p in res if p.suffix == ".tres"][0].read_text()


def test_individual_frames(sheet, tmp_path):
    written = export.export_sheet(sheet, tmp_path, "hero", formats=["frames"], scale=2)
    frames = [p for p in written if p.parent.name == "hero_x2_frames"]
    assert len(frames) == 24
    with Image.open(tmp_path / "hero_x2_frames" / "walk_right_1.png") as im:
        a = np.asarray(im)
    assert a.shape == (64, 64, 4)
    assert np.array_equal(a[::2, ::2], sheet[2, 3])


@pytest.mark.parametrize("scale", range(1, 9))
def test_scale_nearest(sheet, scale):
    img = export.sheet_image(sheet)
    s = export.scale_nearest(img, scale)
    assert s.shape == (128 * scale, 192 * scale, 4)
    assert np.array_equal(s, np.kron(img, np.ones((scale, scale, 1), np.uint8)))


@pytest.mark.parametrize("bad", [0, 9, -1, 2.0, True, "2"])
def test_bad_scale(sheet, tmp_path, bad):
    with pytest.raises(InvalidParamsError):
        export.export_sheet(sheet, tmp_path, "x", scale=bad)


def test_bad_format_and_names(sheet, tmp_path):
    with pytest.raises(InvalidParamsError):
        export.export_sheet(sheet, tmp_path, "x", formats=["gif"])
    with pytest.raises(InvalidParamsError):
        export.export_sheet(sheet, tmp_path, "../x")
    with pytest.raises(InvalidParamsError):
        export.export_sheet(np.zeros((100, 50, 4), np.uint8), tmp_path, "x")


def test_export_folder_not_writable(sheet, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(GenStudioError):
        export.export_sheet(sheet, blocker / "sub", "hero")
    assert blocker.read_text() == "x"


def test_failed_export_leaves_nothing_half_written(sheet, tmp_path, monkeypatch):
    calls = []
    real = export.atomic_write_bytes

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise GenStudioError("disk full")
        real(path, data)

    monkeypatch.setattr(export, "atomic_write_bytes", flaky)
    with pytest.raises(GenStudioError):
        export.export_sheet(sheet, tmp_path, "hero", formats=["aseprite", "godot"])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_export_sheet_file_for_the_cli(sheet, tmp_path):
    src = tmp_path / "sprite_3.png"
    src.write_bytes(export.encode_png(export.sheet_image(sheet)))
    assert export.export_sheet_file(src) == []
    out = export.export_sheet_file(src, formats=["aseprite", "godot", "frames"], scale=2)
    names = {p.name for p in out}
    assert {"sprite_3_x2.png", "sprite_3_x2.json", "sprite_3_x2.array.json"} <= names
    assert "sprite_3_x2.tres" in names and len(out) == 4 + 24
    doc = json.loads((tmp_path / "sprite_3_x2.json").read_text())
    assert doc["meta"]["image"] == "sprite_3_x2.png" and doc["meta"]["size"] == {"w": 384, "h": 256}
    out1 = export.export_sheet_file(src, formats=["aseprite"])
    assert src not in out1 and (tmp_path / "sprite_3.json").exists()
    with pytest.raises(InvalidParamsError):
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"nope")
        export.export_sheet_file(bad, formats=["godot"])


def test_contact_sheet():
    sheets = [procedural.render_sheet({}, i) for i in range(3)]
    img = export.contact_sheet(sheets, columns=2)
    assert img.shape == (2 * (128 + 8) + 8, 2 * (192 + 8) + 8, 3)
    with pytest.raises(InvalidParamsError):
        export.contact_sheet([])


def test_every_format_is_planned_and_written(sheet, tmp_path):
    assert export.FORMATS == ("png", "aseprite", "godot", "pixi", "unity", "frames")
    assert set(export.FORMAT_LABELS) == set(export.FORMATS)
    written = export.export_sheet(sheet, tmp_path, "hero", scale=2)
    rel = [p.relative_to(tmp_path).as_posix() for p in written]
    lay = export.layout_of(192, 128).times(2)
    assert rel == export.planned_files("hero", export.FORMATS, 2, lay)
    assert export.planned_files("hero", ["frames", "pixi"], 3) == [
        "hero_x3.png",
        "hero_x3.pixi.json",
        "hero_x3_frames/",
    ]
    assert len(rel) == 6 + 24 and "hero_x2.unity.json" in rel and "hero_x2.pixi.json" in rel


# --- the Universal LPC layout, written down here independently of layout.py -------------------

LPC_DIRS = ("up", "left", "down", "right")
#: animation -> (first row, first column, frames, ms, loop, directions)
LPC = {
    "spellcast": (0, 0, 7, 100, False, LPC_DIRS),
    "thrust": (4, 0, 8, 90, False, LPC_DIRS),
    "walk": (8, 1, 8, 100, True, LPC_DIRS),  # column 0 is the standing pose
    "slash": (12, 0, 6, 90, False, LPC_DIRS),
    "shoot": (16, 0, 13, 70, False, LPC_DIRS),
    "hurt": (20, 0, 6, 110, False, ("down",)),
    "idle": (21, 0, 2, 500, True, LPC_DIRS),  # GenStudio's rows after the LPC sheet
}
LPC_W, LPC_H = 13 * 64, 25 * 64


def lpc_tracks():
    """name -> (cell indices in play order, ms, loop) of an LPC sheet (13 columns)."""
    out = {}
    for a, (row0, col0, n, ms, loop, dirs) in LPC.items():
        for k, d in enumerate(dirs):
            r = row0 + k
            out[f"{a}_{d}"] = ([r * 13 + col0 + i for i in range(n)], ms, loop)
    return out


@pytest.fixture(scope="module")
def lpc_img():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (LPC_H, LPC_W, 4), dtype=np.uint8)
    img[..., 3] = np.where(img[..., 3] > 127, 255, 0)
    return img


@pytest.fixture(scope="module")
def lpc_export(lpc_img, tmp_path_factory):
    out = tmp_path_factory.mktemp("lpc")
    written = {s: export.export_sheet(lpc_img, out, "lpc", scale=s) for s in (1, 2)}
    return out, written


def test_lpc_layout_is_detected(lpc_img):
    lay = export.layout_of(LPC_W, LPC_H)
    assert (lay.style, lay.columns, lay.rows, lay.frame_w) == ("lpc", 13, 25, 64)
    assert {t.name for t in lay.tracks} == set(lpc_tracks())
    # without GenStudio's idle rows it is still LPC
    assert export.layout_of(LPC_W, 21 * 64).rows == 21
    with pytest.raises(InvalidParamsError, match="does not fit"):
        export.export_sheet(lpc_img, "/nonexistent", "x", layout=export.layout_of(192, 128))


@pytest.mark.parametrize("scale", [1, 2])
def test_lpc_aseprite(lpc_export, lpc_img, scale):
    out, _ = lpc_export
    base = "lpc" if scale == 1 else "lpc_x2"
    fs = 64 * scale
    want = lpc_tracks()
    with Image.open(out / f"{base}.png") as im:
        png = np.asarray(im)
    assert png.shape == (LPC_H * scale, LPC_W * scale, 4)
    for fl in ("json", "array.json"):
        doc = json.loads((out / f"{base}.{fl}").read_text())
        meta = doc["meta"]
        assert meta["scale"] == "1" and meta["size"] == {"w": LPC_W * scale, "h": LPC_H * scale}
        items = (
            list(doc["frames"].items())
            if fl == "json"
            else [(f["filename"], f) for f in doc["frames"]]
        )
        assert [n for n, _ in items] == [str(i) for i in range(13 * 25)]
        ms_of = {i: ms for idx, ms, _ in want.values() for i in idx}
        for i, (_, fr) in enumerate(items):
            r, c = divmod(i, 13)
            assert fr["frame"] == {"x": c * fs, "y": r * fs, "w": fs, "h": fs}
            assert fr["duration"] == ms_of.get(i, 100)  # cells of no track: 100 ms
        tags = {t["name"]: t for t in meta["frameTags"]}
        assert len(meta["frameTags"]) == len(tags) == 6 * 4 + 1
        assert set(tags) == set(want)
        assert [t for t in tags if t.startswith("hurt")] == ["hurt_down"]
        for name, (idx, _, _) in want.items():
            assert (tags[name]["from"], tags[name]["to"]) == (idx[0], idx[-1])
    fr = doc["frames"][want["slash_left"][0][2]]["frame"]  # array: the 3rd slash_left frame
    crop = png[fr["y"] : fr["y"] + fs, fr["x"] : fr["x"] + fs]
    assert np.array_equal(crop[::scale, ::scale], lpc_img[13 * 64 : 14 * 64, 2 * 64 : 3 * 64])


def test_pixi_json(lpc_export, sheet, tmp_path):
    out, _ = lpc_export
    want = lpc_tracks()
    docs = {}
    for base in ("lpc", "lpc_x2"):
        doc = json.loads((out / f"{base}.pixi.json").read_text())
        docs[base] = doc
        s = 2 if base == "lpc_x2" else 1
        assert doc["meta"]["scale"] == "1" and doc["meta"]["image"] == f"{base}.png"
        assert doc["meta"]["size"] == {"w": LPC_W * s, "h": LPC_H * s}
        frames = doc["frames"]
        assert len(frames) == 13 * 25 and all(n.startswith(f"{base}/") for n in frames)
        assert set(doc["animations"]) == set(want)
        for name, (idx, _, _) in want.items():
            names = doc["animations"][name]
            assert names == [f"{base}/{name}_{k}" for k in range(len(idx))]
            for n, i in zip(names, idx):
                r, c = divmod(i, 13)
                assert frames[n]["frame"] == {
                    "x": c * 64 * s,
                    "y": r * 64 * s,
                    "w": 64 * s,
                    "h": 64 * s,
                }
                assert frames[n]["anchor"] == {"x": 0.5, "y": 1.0}
        assert f"{base}/cell_{8 * 13}" in frames  # the walk rows' standing pose: no track
        assert f"{base}/cell_{20 * 13 + 6}" in frames  # the hurt row after its 6 frames
    # two sheets (two stems / scales) never share a frame name
    export.export_sheet(sheet, tmp_path, "hero", formats=["pixi"])
    hero = json.loads((tmp_path / "hero.pixi.json").read_text())
    assert set(hero["animations"]) == {f"{a}_{d}" for a in ANIMS for d in DIRS}
    assert hero["animations"]["walk_up"] == [f"hero/walk_up_{k}" for k in range(4)]
    names = [set(d["frames"]) for d in (*docs.values(), hero)]
    assert sum(map(len, names)) == len(set().union(*names))


@pytest.mark.parametrize("scale", [1, 2])
def test_unity_json(lpc_export, lpc_img, scale):
    out, _ = lpc_export
    base = "lpc" if scale == 1 else "lpc_x2"
    fs, H = 64 * scale, LPC_H * scale
    doc = json.loads((out / f"{base}.unity.json").read_text())
    assert doc["texture"] == f"{base}.png" and doc["textureSize"] == {"w": LPC_W * scale, "h": H}
    assert doc["pixelsPerUnit"] == fs
    assert doc["grid"] == {
        "cellWidth": fs,
        "cellHeight": fs,
        "columns": 13,
        "rows": 25,
        "offset": {"x": 0, "y": 0},
        "padding": {"x": 0, "y": 0},
    }
    assert doc["pivot"] == {"x": 0.5, "y": 0.0} and doc["pivotPixels"] == {"x": fs // 2, "y": 0}
    sprites = {s["name"]: s for s in doc["sprites"]}
    assert len(sprites) == len(doc["sprites"]) == 13 * 25
    with Image.open(out / f"{base}.png") as im:
        flipped = np.asarray(im)[::-1]  # bottom-left origin: row 0 of this is the bottom row
    for s in doc["sprites"]:
        r, c = divmod(s["index"], 13)
        assert s["gridName"] == f"{base}_{s['index']}"
        # Unity's rects: bottom-left origin, the top row of the sheet is the highest y
        assert s["rect"] == {"x": c * fs, "y": H - (r + 1) * fs, "width": fs, "height": fs}
    top_left = sprites["spellcast_up_0"]["rect"]
    assert top_left["y"] == H - fs and top_left["x"] == 0
    bottom = sprites["idle_right_1"]["rect"]
    assert (bottom["x"], bottom["y"]) == (fs, 0)
    rc = sprites["thrust_down_3"]["rect"]
    crop = flipped[rc["y"] : rc["y"] + fs, rc["x"] : rc["x"] + fs][::-1]
    assert np.array_equal(crop[::scale, ::scale], lpc_img[6 * 64 : 7 * 64, 3 * 64 : 4 * 64])
    anims = {a["name"]: a for a in doc["animations"]}
    want = lpc_tracks()
    assert set(anims) == set(want)
    for name, (idx, ms, loop) in want.items():
        a = anims[name]
        assert a["frames"] == [f"{name}_{k}" for k in range(len(idx))]
        assert [sprites[f]["index"] for f in a["frames"]] == idx
        assert a["frameRate"] == pytest.approx(1000 / ms) and a["frameMs"] == ms
        assert a["loop"] is loop


def test_lpc_godot_spriteframes(lpc_export):
    out, _ = lpc_export
    text = (out / "lpc_x2.tres").read_text()
    header, sections, ext, subs, anims = _read_tres(text)
    want = lpc_tracks()
    n_frames = sum(len(idx) for idx, _, _ in want.values())
    assert len(subs) == n_frames  # one AtlasTexture per frame some animation shows
    assert int(header.group(2)) == n_frames + 2
    names = {a["name"]: a for a in anims}
    assert set(names) == set(want) and len(anims) == len(want)
    for name, (idx, ms, loop) in want.items():
        a = names[name]
        assert a["loop"] is loop and a["speed"] == pytest.approx(1000 / ms)
        rects = [subs[ref][1] for _, ref in a["frames"]]
        assert rects == [((i % 13) * 128, (i // 13) * 128, 128, 128) for i in idx]
    assert names["slash_up"]["loop"] is False and names["walk_left"]["loop"] is True


@pytest.mark.filterwarnings("ignore:'\\w+' argument is deprecated")  # pyparsing 3.3 vs godot_parser
def test_godot_tres_parsed_by_godot_parser(lpc_export, sheet, tmp_path):
    """godot_parser (an independent reader of Godot's text scene/resource format) parses the
    files. It predates Godot 4's StringName literal (``&"walk_down"``, what Godot 4 itself
    writes for animation names), so that one prefix is dropped before parsing."""
    from godot_parser import parse

    out, _ = lpc_export
    export.export_sheet(sheet, tmp_path, "hero", formats=["godot"])
    want = lpc_tracks()
    for path, frame, tracks in (
        (out / "lpc_x2.tres", 128, {n: (idx, ms, loop, 13) for n, (idx, ms, loop) in want.items()}),
        (
            tmp_path / "hero.tres",
            32,
            {
                f"{a}_{d}": ([r * 6 + start + k for k in range(n)], ms, True, 6)
                for r, d in enumerate(DIRS)
                for a, (start, n, ms) in ANIMS.items()
            },
        ),
    ):
        text = path.read_text()
        assert text.count('&"') == len(tracks)
        doc = parse(text.replace('&"', '"'))
        secs = doc.get_sections()
        head = secs[0].header
        assert (head.name, head["type"], head["format"]) == ("gd_resource", "SpriteFrames", 3)
        assert head["load_steps"] == len(secs) - 1
        (ext,) = doc.get_ext_resources()
        assert ext.header["type"] == "Texture2D" and (path.parent / ext.header["path"]).exists()
        subs = {}
        for s in doc.get_sub_resources():
            assert s.header["type"] == "AtlasTexture" and s["atlas"].id == ext.header["id"]
            assert s["region"].name == "Rect2"
            subs[s.header["id"]] = tuple(s["region"].args)
        res = secs[-1]
        assert res.header.name == "resource"
        anims = {a["name"]: a for a in res["animations"]}
        assert set(anims) == set(tracks)
        for name, (idx, ms, loop, cols) in tracks.items():
            a = anims[name]
            assert a["loop"] is loop and a["speed"] == pytest.approx(1000 / ms)
            assert [f["duration"] for f in a["frames"]] == [1.0] * len(idx)
            got = [subs[f["texture"].id] for f in a["frames"]]
            assert got == [((i % cols) * frame, (i // cols) * frame, frame, frame) for i in idx]


def test_lpc_frames_and_the_cli_path(lpc_export, lpc_img, tmp_path):
    out, written = lpc_export
    want = lpc_tracks()
    frames = sorted(p.name for p in written[1] if p.parent.name == "lpc_frames")
    assert frames == sorted(
        f"{n}_{k}.png" for n, (idx, _, _) in want.items() for k in range(len(idx))
    )
    with Image.open(out / "lpc_frames" / "hurt_down_5.png") as im:
        assert np.array_equal(np.asarray(im), lpc_img[20 * 64 : 21 * 64, 5 * 64 : 6 * 64])
    # export_sheet_file: the stored layout dict is used when it fits, else detected
    src = tmp_path / "s.png"
    src.write_bytes(export.encode_png(lpc_img))
    got = export.export_sheet_file(src, formats=["aseprite"], scale=2)
    doc = json.loads((tmp_path / "s_x2.json").read_text())
    assert {p.name for p in got} == {"s_x2.png", "s_x2.json", "s_x2.array.json"}
    assert len(doc["meta"]["frameTags"]) == 25 and doc["meta"]["scale"] == "1"
    stored = export.layout_of(LPC_W, LPC_H).to_dict()
    stored["tracks"] = [t for t in stored["tracks"] if t["animation"] == "walk"]
    export.export_sheet_file(src, formats=["unity"], layout=stored)
    doc = json.loads((tmp_path / "s.unity.json").read_text())
    assert [a["name"] for a in doc["animations"]] == [f"walk_{d}" for d in LPC_DIRS]
    # a stored layout that does not fit the image is not used
    gs = export.layout_of(192, 128).to_dict()
    export.export_sheet_file(src, formats=["unity"], layout={**gs, "frame_w": 7})
    doc = json.loads((tmp_path / "s.unity.json").read_text())
    assert len(doc["animations"]) == 25


def test_contact_sheet_of_mixed_sizes(sheet, lpc_img):
    img = export.contact_sheet([sheet, lpc_img, export.sheet_image(sheet)], columns=2, pad=4)
    assert img.shape == (2 * (LPC_H + 4) + 4, 2 * (LPC_W + 4) + 4, 3)
    opaque = lpc_img[..., 3] > 0
    assert np.array_equal(
        img[4 : 4 + LPC_H, LPC_W + 8 : 2 * LPC_W + 8][opaque], lpc_img[..., :3][opaque]
    )
    with pytest.raises(InvalidParamsError):
        export.contact_sheet([np.zeros((4, 4, 3), np.uint8)])
