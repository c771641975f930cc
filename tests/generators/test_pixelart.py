"""Pixel-art pipeline of the Images mode: grid, binary alpha, palette, cleanup, outline, files."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images.pixelart import PixelArtResult, pixelate
from genstudio.generators.palettes import parse_pal, read_palette


def opaque_colours(img: np.ndarray) -> set[tuple[int, int, int]]:
    """Independent of the module: plain Python over the pixels."""
    return {tuple(int(v) for v in px[:3]) for px in img.reshape(-1, 4) if px[3] > 0}


def blob(size: int = 256, seed: int = 3) -> np.ndarray:
    """A shaded disc with noise and a dark rim on a transparent background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = np.zeros((size, size, 4), np.uint8)
    shade = np.clip(1.2 - np.hypot(xx - 0.35, yy - 0.35) * 1.6, 0, 1)
    img[..., 0] = np.clip(60 + 190 * shade + rng.normal(0, 12, shade.shape), 0, 255)
    img[..., 1] = np.clip(40 + 120 * shade * xx + rng.normal(0, 12, shade.shape), 0, 255)
    img[..., 2] = np.clip(90 + 100 * yy + rng.normal(0, 12, shade.shape), 0, 255)
    r = np.hypot(xx - 0.5, yy - 0.5)
    img[..., 3] = np.where(r < 0.4, 255, 0)
    rim = (r >= 0.37) & (r < 0.4)
    img[rim, :3] = (20, 15, 30)
    # garbage colour under fully transparent pixels must never leak into the result
    img[r >= 0.4, :3] = (0, 255, 0)
    return img


def test_same_input_gives_identical_bytes():
    a = pixelate(blob(), grid=48, colors=12, outline=True, scale=3)
    b = pixelate(blob().copy(), grid=48, colors=12, outline=True, scale=3)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.palette.tobytes() == b.palette.tobytes()
    assert a.indices.tobytes() == b.indices.tobytes()
    assert a.to_png_bytes() == b.to_png_bytes()
    assert a.to_png_bytes(display=True) == b.to_png_bytes(display=True)


@pytest.mark.parametrize("method", ["kmeans", "median_cut"])
@pytest.mark.parametrize("downscale", ["mode", "mean"])
def test_every_pixel_is_in_the_palette_and_alpha_is_binary(method, downscale):
    res = pixelate(blob(), grid=40, colors=10, method=method, downscale=downscale, outline=True)
    img = res.image
    assert img.dtype == np.uint8 and img.shape == (40, 40, 4)
    assert res.metrics.palette_share == 1.0
    assert res.metrics.binary_alpha_share == 1.0
    # independent of the metrics code
    declared = {tuple(int(v) for v in c) for c in res.palette}
    assert opaque_colours(img) <= declared
    assert set(np.unique(img[..., 3]).tolist()) <= {0, 255}
    assert (img[img[..., 3] == 0] == 0).all()  # transparent pixels are (0, 0, 0, 0)
    assert 2 <= len(opaque_colours(img)) <= 10
    # indices agree with the pixels
    solid = res.indices >= 0
    assert (solid == (img[..., 3] == 255)).all()
    assert (res.palette[res.indices[solid]] == img[solid, :3]).all()


@pytest.mark.parametrize("colors", [2, 5, 256])
def test_colour_count_limit(colors):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (200, 200, 4), dtype=np.uint8)
    noise[..., 3] = 255
    res = pixelate(noise, grid=128, colors=colors, cleanup=False)
    used = opaque_colours(res.image)
    assert len(used) <= colors
    if colors < 256:
        assert len(used) == colors  # noise has far more colours than that
    else:
        assert len(used) > 100
    assert res.metrics.colors_used == len(used) == len(res.palette)


def test_colours_of_a_flat_image_are_kept_exactly():
    img = np.zeros((64, 96, 4), np.uint8)
    img[:, :32] = (200, 10, 10, 255)
    img[:, 32:64] = (10, 180, 40, 255)
    img[:, 64:] = (30, 30, 200, 255)
    res = pixelate(img, grid=24, colors=16)
    assert res.image.shape == (16, 24, 4)
    assert opaque_colours(res.image) == {(200, 10, 10), (10, 180, 40), (30, 30, 200)}
    assert (res.image[:, :8, :3] == (200, 10, 10)).all()
    assert (res.image[:, 16:, :3] == (30, 30, 200)).all()


def test_user_palette_is_respected():
    pal = [(255, 255, 255), (200, 40, 40), (20, 12, 40), (40, 160, 60), (240, 200, 80)]
    res = pixelate(blob(), grid=32, colors=None, palette=pal)
    assert [tuple(int(v) for v in c) for c in res.palette] == pal  # as given, in order
    assert opaque_colours(res.image) <= set(pal)
    assert res.metrics.palette_share == 1.0
    # colours and a palette: at most `colors` of the palette's colours
    res2 = pixelate(blob(), grid=32, colors=2, palette=pal)
    used = opaque_colours(res2.image)
    assert used <= set(pal) and 1 <= len(used) <= 2


def test_duplicate_palette_entries_are_merged():
    res = pixelate(blob(), grid=16, colors=None, palette=[(0, 0, 0), (255, 0, 0), (0, 0, 0)])
    assert res.palette.tolist() == [[0, 0, 0], [255, 0, 0]]


@pytest.mark.parametrize(
    ("w", "h", "grid", "shape"),
    [
        (300, 200, 32, (21, 32)),
        (100, 400, 64, (64, 16)),
        (50, 50, 8, (8, 8)),
        (20, 10, 64, (32, 64)),
    ],
)
def test_grid_keeps_the_aspect_ratio(w, h, grid, shape):
    img = np.full((h, w, 4), 255, np.uint8)
    img[: h // 2, :, :3] = (200, 0, 0)
    res = pixelate(img, grid=grid, colors=4)
    assert res.image.shape == (*shape, 4)
    assert res.metrics.grid == (shape[1], shape[0])


def test_mode_vote_keeps_edges_crisp_where_averaging_blends():
    # a red/green border inside a cell (cell 4 spans x 40..50, 70% green), with an olive in the palette
    # that matches the blend of the two
    img = np.zeros((80, 80, 4), np.uint8)
    img[:, :43] = (220, 20, 20, 255)
    img[:, 43:] = (20, 200, 20, 255)
    pal = [(220, 20, 20), (20, 200, 20), (105, 125, 20)]
    crisp = pixelate(img, grid=8, colors=None, palette=pal, downscale="mode")
    assert opaque_colours(crisp.image) == {(220, 20, 20), (20, 200, 20)}
    assert (crisp.image[:, 4, :3] == (20, 200, 20)).all()  # the majority side wins
    soft = pixelate(img, grid=8, colors=None, palette=pal, downscale="mean")
    assert (soft.image[:, 4, :3] == (105, 125, 20)).all()  # the halo the vote avoids


def test_transparent_pixels_do_not_tint_their_neighbours():
    img = np.zeros((64, 64, 4), np.uint8)
    img[:, :, :3] = (0, 0, 255)  # blue under alpha 0 on the right
    img[:, :30] = (230, 120, 10, 255)
    for downscale in ("mode", "mean"):
        res = pixelate(img, grid=8, colors=4, downscale=downscale)
        assert opaque_colours(res.image) == {(230, 120, 10)}


def test_alpha_threshold():
    img = np.zeros((32, 32, 4), np.uint8)
    img[...] = (100, 150, 200, 100)
    assert (pixelate(img, grid=8, colors=2).image[..., 3] == 0).all()
    opaque = pixelate(img, grid=8, colors=2, alpha_threshold=100).image
    assert (opaque[..., 3] == 255).all() and (opaque[..., :3] == (100, 150, 200)).all()


def test_fully_transparent_image():
    res = pixelate(np.zeros((40, 40, 4), np.uint8), grid=10, colors=4, outline=True)
    assert not res.image.any() and len(res.palette) == 0
    assert res.metrics.palette_share == 1.0 and res.metrics.opaque_share == 0.0


def disc(size=64, radius=20) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size, 4), np.uint8)
    inside = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < radius**2
    img[inside] = (240, 200, 80, 255)
    img[inside & (xx < size // 2)] = (200, 40, 40, 255)
    return img


def test_outline_on_and_off():
    pal = [(240, 200, 80), (200, 40, 40), (20, 12, 40), (255, 255, 255)]
    plain = pixelate(disc(), grid=64, colors=None, palette=pal, outline=False).image
    lined = pixelate(disc(), grid=64, colors=None, palette=pal, outline=True).image
    solid = plain[..., 3] == 255
    assert (20, 12, 40) not in opaque_colours(plain)
    # expected ring, computed here: transparent pixels with an opaque 4-neighbour
    p = np.pad(solid, 1)
    ring = ~solid & (p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:])
    assert ring.sum() > 50
    assert (lined[ring] == (20, 12, 40, 255)).all()
    assert (lined[solid] == plain[solid]).all()  # the silhouette itself is untouched
    assert (lined[~solid & ~ring] == 0).all()


def test_outline_uses_the_darkest_fitted_colour():
    res = pixelate(disc(), grid=64, colors=8, outline=True)
    dark = tuple(int(v) for v in res.palette[0])
    lum = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in res.palette.tolist()]
    assert int(np.argmin(lum)) == 0  # palette is darkest first
    assert dark in opaque_colours(res.image)


def test_outline_of_a_full_bleed_image_changes_nothing():
    img = np.full((32, 32, 4), 255, np.uint8)
    img[:16, :, :3] = (50, 90, 200)
    a = pixelate(img, grid=16, colors=4, outline=False)
    b = pixelate(img, grid=16, colors=4, outline=True)
    assert a.image.tobytes() == b.image.tobytes()


def test_cleanup_removes_strays_and_speckles_but_keeps_details():
    img = np.zeros((16, 16, 4), np.uint8)
    img[2:14, 2:14] = (200, 150, 120, 255)  # a skin-coloured square
    img[0, 15] = (200, 150, 120, 255)  # a lonely opaque pixel
    img[5, 5] = (190, 140, 112, 255)  # a near shade speckle
    img[9, 9] = (10, 10, 20, 255)  # a high-contrast detail (an eye)
    img[11, 6] = (0, 0, 0, 0)  # a pinhole
    pal = [(200, 150, 120), (188, 140, 112), (10, 10, 20)]
    raw = pixelate(img, grid=16, colors=None, palette=pal, cleanup=False).image
    assert raw[0, 15, 3] == 255 and tuple(raw[5, 5, :3]) == (188, 140, 112)
    assert raw[11, 6, 3] == 0
    clean = pixelate(img, grid=16, colors=None, palette=pal, cleanup=True).image
    assert clean[0, 15, 3] == 0
    assert tuple(clean[5, 5]) == (200, 150, 120, 255)
    assert tuple(clean[9, 9]) == (10, 10, 20, 255)
    assert tuple(clean[11, 6]) == (200, 150, 120, 255)
    # nothing else changed
    diff = np.argwhere((clean != raw).any(-1))
    assert sorted(map(tuple, diff.tolist())) == [(0, 15), (5, 5), (11, 6)]


def test_lines_are_not_speckles():
    img = np.zeros((16, 16, 4), np.uint8)
    img[...] = (200, 150, 120, 255)
    for i in range(16):
        img[i, i] = (190, 140, 112, 255)  # a diagonal line of a near shade
    pal = [(200, 150, 120), (190, 140, 112)]
    res = pixelate(img, grid=16, colors=None, palette=pal)
    assert all(tuple(res.image[i, i, :3]) == (190, 140, 112) for i in range(16))


def test_display_scale_and_png_round_trip():
    res = pixelate(blob(), grid=20, colors=6, scale=5)
    assert res.display is not None and res.display.shape == (100, 100, 4)
    assert (res.display == np.kron(res.image, np.ones((5, 5, 1), np.uint8))).all()
    with Image.open(io.BytesIO(res.to_png_bytes())) as im:
        assert im.format == "PNG" and im.mode == "RGBA"
        assert (np.asarray(im) == res.image).all()
    with Image.open(io.BytesIO(res.to_png_bytes(display=True))) as im:
        assert (np.asarray(im) == res.display).all()
    assert pixelate(blob(), grid=20, colors=6).display is None


def test_pil_and_rgb_inputs():
    arr = blob()[..., :3].copy()
    a = pixelate(arr, grid=16, colors=4)
    b = pixelate(Image.fromarray(arr, "RGB"), grid=16, colors=4)
    assert isinstance(a, PixelArtResult)
    assert a.image.tobytes() == b.image.tobytes()
    assert (a.image[..., 3] == 255).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid": 7},
        {"grid": 257},
        {"grid": True},
        {"grid": 32.0},
        {"colors": 1},
        {"colors": 257},
        {"colors": None},
        {"method": "octree"},
        {"downscale": "bicubic"},
        {"alpha_threshold": 0},
        {"alpha_threshold": 256},
        {"palette": [(0, 0, 0)] * 0},
        {"palette": [(300, 0, 0)]},
        {"palette": [(1, 2)]},
        {"palette": [(i % 256, i // 256, 0) for i in range(257)]},
        {"scale": 0},
        {"scale": 64, "grid": 256},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(InvalidParamsError):
        pixelate(blob(64), **kwargs)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10, 4), np.float32),
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 2), np.uint8),
        np.zeros((0, 10, 4), np.uint8),
    ],
)
def test_bad_images_are_refused(image):
    with pytest.raises(InvalidParamsError):
        pixelate(image, grid=8, colors=4)


# --- palette files -----------------------------------------------------------------------------


def test_read_jasc_pal(tmp_path):
    p = tmp_path / "pico.pal"
    p.write_text("JASC-PAL\r\n0100\r\n3\r\n0 0 0\r\n255 241 232\r\n41 173 255\r\n")
    assert read_palette(p).tolist() == [[0, 0, 0], [255, 241, 232], [41, 173, 255]]


def riff_pal(colours, *, count=None) -> bytes:
    n = len(colours) if count is None else count
    data = struct.pack("<HH", 0x0300, n) + b"".join(bytes((*c, 0)) for c in colours)
    body = b"PAL " + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_read_riff_pal(tmp_path):
    p = tmp_path / "MS.PAL"  # the binary (Microsoft) RIFF palette; the extension is any case
    p.write_bytes(riff_pal([(1, 2, 3), (250, 128, 0), (1, 2, 3)]))
    assert read_palette(p).tolist() == [[1, 2, 3], [250, 128, 0]]  # duplicate dropped


def test_gpl_and_hex_are_read_too(tmp_path):
    gpl = tmp_path / "a.gpl"
    gpl.write_text("GIMP Palette\nName: t\nColumns: 2\n# c\n 10  20  30\tdark\n255 0 0 red\n")
    assert read_palette(gpl).tolist() == [[10, 20, 30], [255, 0, 0]]
    hx = tmp_path / "a.hex"
    hx.write_text("ff0000\n00ff00\n\n0000ff\n")
    assert read_palette(hx).tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    res = pixelate(blob(), grid=16, colors=None, palette=read_palette(hx))
    assert opaque_colours(res.image) <= {(255, 0, 0), (0, 255, 0), (0, 0, 255)}


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("a.pal", b"JASC-PAL\n0100\n2\n0 0 0\n", "declares 2 colours but lists 1"),
        ("b.pal", b"JASC-PAL\n0100\n1\n0 0 256\n", "three values 0..255"),
        ("c.pal", b"JASC-PAL\n0100\n1\n0 0 x\n", "not 'R G B'"),
        ("d.pal", b"JASC\n0100\n1\n0 0 0\n", "JASC-PAL"),
        ("e.pal", b"JASC-PAL\n0200\n1\n0 0 0\n", "version"),
        ("f.pal", b"JASC-PAL\n0100\n999\n", "999 colours"),
        ("g.pal", b"\xff\xfe\x00garbage\x80", "neither"),
        ("h.pal", b"   \n", "empty"),
        ("i.pal", riff_pal([(1, 2, 3)], count=5), "truncated"),
        ("n.pal", riff_pal([(1, 2, 3)], count=300), "300 colours"),
        ("j.pal", b"RIFF\x10\x00\x00\x00WAVEfmt \x00\x00\x00\x00", "not a RIFF palette"),
        ("k.gpl", b"not a gimp palette\n", "GIMP Palette"),
        ("l.hex", b"ff0000\nzzzzzz\n", "RRGGBB"),
        ("m.aco", b"whatever", "unknown palette format"),
    ],
)
def test_bad_palette_files(tmp_path, name, content, words):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InvalidParamsError) as e:
        read_palette(p)
    assert words in str(e.value)
    assert ".pal" in e.value.hint and ".gpl" in e.value.hint and ".hex" in e.value.hint


def test_missing_palette_file_and_folder(tmp_path):
    with pytest.raises(InvalidParamsError, match="does not exist"):
        read_palette(tmp_path / "nope.pal")
    (tmp_path / "dir.pal").mkdir()
    with pytest.raises(InvalidParamsError, match="folder"):
        read_palette(tmp_path / "dir.pal")


def test_parse_pal_bytes_directly():
    assert parse_pal(b"JASC-PAL\n0100\n2\n1 2 3\n1 2 3\n").tolist() == [[1, 2, 3]]
