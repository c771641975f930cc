"""Sheet exports: PNG, Aseprite JSON (hash + array), Godot 4 SpriteFrames, frames, scaling."""

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
        assert meta["format"] == "RGBA8888" and meta["scale"] == str(scale)
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
