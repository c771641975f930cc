"""Pixel post-processing and palette file readers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import palettes
from genstudio.generators.sprites import procedural
from genstudio.generators.sprites.postprocess import (
    add_outline,
    binary_alpha,
    clean_sheet,
    count_colors,
    limit_palette,
    lock_palette,
    remove_strays,
    resize_nearest,
)


def blank(h=8, w=8, n=1):
    return np.zeros((n, h, w, 4), np.uint8)


def test_binary_alpha_thresholds_and_clears_rgb():
    px = blank(1, 4)
    px[0, 0, :, :] = [[10, 20, 30, 0], [10, 20, 30, 127], [10, 20, 30, 128], [1, 2, 3, 255]]
    out = binary_alpha(px)
    assert out[0, 0, :, 3].tolist() == [0, 0, 255, 255]
    assert out[0, 0, 1].tolist() == [0, 0, 0, 0]
    assert binary_alpha(px, threshold=10)[0, 0, 1, 3] == 255
    with pytest.raises(InvalidParamsError):
        binary_alpha(px, threshold=0)
    with pytest.raises(InvalidParamsError):
        binary_alpha(np.zeros((4, 4, 3), np.uint8))


def test_remove_strays_keeps_connected_pixels():
    px = blank()
    px[0, 1, 1] = [255, 0, 0, 255]  # isolated
    px[0, 5, 5] = px[0, 6, 6] = [0, 255, 0, 255]  # diagonal pair
    px[0, 3, 6] = px[0, 3, 7] = [0, 0, 255, 255]  # 4-connected pair
    out8 = remove_strays(px)
    assert out8[0, 1, 1, 3] == 0 and out8[0, 5, 5, 3] == 255 and out8[0, 3, 6, 3] == 255
    out4 = remove_strays(px, connectivity=4)
    assert out4[0, 5, 5, 3] == 0 and out4[0, 6, 6, 3] == 0 and out4[0, 3, 7, 3] == 255
    # neighbours are per frame: a pixel at a frame edge does not see the next frame
    two = blank(4, 4, 2)
    two[0, 0, 3] = two[1, 0, 0] = [9, 9, 9, 255]
    assert not remove_strays(two)[..., 3].any()


def test_outline_colour_and_frame_bounds():
    px = blank(5, 5, 2)
    px[0, 2, 2] = [200, 100, 50, 255]
    out = add_outline(px, "#ff00ff")
    ring = out[0, ..., 3] == 255
    assert ring.sum() == 5  # the pixel + 4 neighbours (no diagonals)
    assert out[0, 1, 2, :3].tolist() == [255, 0, 255] and out[0, 1, 1, 3] == 0
    assert not out[1, ..., 3].any()  # never leaks into another frame
    assert add_outline(px, (1, 2, 3), diagonal=True)[0, ..., 3].astype(bool).sum() == 9
    with pytest.raises(InvalidParamsError):
        add_outline(px, "purple")


def test_limit_palette_joint_over_frames_and_deterministic():
    sheet = procedural.render_sheet({}, 11)
    before = count_colors(sheet)
    assert before > 16
    for k in (2, 5, 16, 32):
        out = limit_palette(sheet, k)
        assert count_colors(out) <= k
        assert np.array_equal(out[..., 3], sheet[..., 3])
        assert np.array_equal(out, limit_palette(sheet, k))
    # every frame shares one palette: the union of frames has <= k colours
    out = limit_palette(sheet, 8)
    assert count_colors(out.reshape(1, -1, 32, 4)) <= 8
    # already within the limit: untouched
    assert np.array_equal(limit_palette(sheet, 256), sheet)
    with pytest.raises(InvalidParamsError):
        limit_palette(sheet, 0)


def test_lock_palette_uses_only_palette_colours():
    sheet = procedural.render_sheet({}, 12)
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 40, 40], [40, 200, 40], [40, 40, 200]])
    out = lock_palette(sheet, pal)
    flat = out.reshape(-1, 4)
    got = {tuple(c) for c in flat[flat[:, 3] == 255, :3].tolist()}
    assert got <= {tuple(c) for c in pal.tolist()}
    assert np.array_equal(out[..., 3], sheet[..., 3])


def test_clean_sheet_chain():
    sheet = procedural.render_sheet({}, 13, outline=False)
    out = clean_sheet(sheet, colors=6, outline="#102030")
    assert count_colors(out) <= 6
    assert set(np.unique(out[..., 3]).tolist()) <= {0, 255}
    pal = np.array([[16, 32, 48], [250, 250, 250], [120, 60, 30], [30, 90, 160]])
    out = clean_sheet(sheet, colors=3, palette=pal)
    assert count_colors(out) <= 3
    # same input, same output on every frame
    assert np.array_equal(out, clean_sheet(sheet, colors=3, palette=pal))


def test_resize_nearest_keeps_the_baseline():
    sheet = procedural.render_sheet({}, 14)
    for size in (16, 48, 64):
        r = resize_nearest(sheet, size)
        assert r.shape == (4, 6, size, size, 4)
        assert r[..., size - 1, :, 3].any(axis=-1).all()
    assert np.array_equal(resize_nearest(sheet, 64)[..., ::2, ::2, :], sheet)


# --- palette files ---------------------------------------------------------------------------


def test_read_gpl(tmp_path):
    f = tmp_path / "p.gpl"
    f.write_text(
        "GIMP Palette\nName: test\nColumns: 4\n# comment\n  0   0   0\tBlack\n255 255 255 White\n"
        "255 0 0\n255 0 0 dup\n"
    )
    pal = palettes.read_palette(f)
    assert pal.tolist() == [[0, 0, 0], [255, 255, 255], [255, 0, 0]]
    assert pal.dtype == np.uint8


def test_read_hex_and_png(tmp_path):
    f = tmp_path / "p.hex"
    f.write_text("1a1c2c\n5D275D\n\n#b13e53\n")
    assert palettes.read_palette(f).tolist() == [[26, 28, 44], [93, 39, 93], [177, 62, 83]]
    img = np.zeros((1, 4, 4), np.uint8)
    img[0] = [[9, 8, 7, 255], [1, 2, 3, 255], [9, 8, 7, 255], [5, 5, 5, 0]]
    p = tmp_path / "p.png"
    Image.fromarray(img).save(p)
    assert palettes.read_palette(p).tolist() == [[9, 8, 7], [1, 2, 3]]


@pytest.mark.parametrize(
    "name,content",
    [
        ("empty.gpl", b""),
        ("blank.hex", b"\n\n  \n"),
        ("noheader.gpl", b"0 0 0\n"),
        ("badline.gpl", b"GIMP Palette\n0 0 zero\n"),
        ("range.gpl", b"GIMP Palette\n0 0 300\n"),
        ("nocolours.gpl", b"GIMP Palette\nName: x\n"),
        ("bad.hex", b"ff00ff\nnot-a-colour\n"),
        ("short.hex", b"fff\n"),
        ("binary.hex", b"\xff\xfe\x00\x81"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\nthis is not a png"),
        ("p.aco", b"whatever"),
    ],
)
def test_bad_palette_files(tmp_path, name, content):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(InvalidParamsError):
        palettes.read_palette(f)


def test_too_many_colours_and_missing_files(tmp_path):
    f = tmp_path / "big.hex"
    f.write_text("\n".join(f"{i:06x}" for i in range(257)))
    with pytest.raises(InvalidParamsError, match="257"):
        palettes.read_palette(f)
    img = np.zeros((1, 300, 4), np.uint8)
    img[0, :, 0] = np.arange(300) % 256
    img[0, :, 1] = np.arange(300) // 256
    img[..., 3] = 255
    p = tmp_path / "big.png"
    Image.fromarray(img).save(p)
    with pytest.raises(InvalidParamsError):
        palettes.read_palette(p)
    t = tmp_path / "clear.png"
    Image.fromarray(np.zeros((2, 2, 4), np.uint8)).save(t)
    with pytest.raises(InvalidParamsError, match="opaque"):
        palettes.read_palette(t)
    with pytest.raises(InvalidParamsError, match="does not exist"):
        palettes.read_palette(tmp_path / "nope.gpl")
    with pytest.raises(InvalidParamsError):
        palettes.read_palette(tmp_path)
    ok = tmp_path / "max.hex"
    ok.write_text("\n".join(f"{i:06x}" for i in range(256)))
    assert len(palettes.read_palette(ok)) == 256
