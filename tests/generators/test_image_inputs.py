"""Safe loading of init images and masks, and the 2x/4x upscale."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images import imageio
from genstudio.generators.images.generator import ImageParams, load_inputs
from genstudio.generators.images.imageio import (
    MAX_INPUT_PIXELS,
    load_init_image,
    load_init_image_and_size,
    load_mask,
    upscale,
)


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims ``width x height`` RGBA but holds ~nothing."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def noise(h=48, w=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image data is decoded."""

    def refuse(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- good images -------------------------------------------------------------------------------


def test_png_round_trip_from_bytes_and_path(tmp_path):
    px = noise()
    data = encode(Image.fromarray(px, "RGBA"))
    (tmp_path / "a.png").write_bytes(data)
    from_bytes = load_init_image(data)
    from_path = load_init_image(tmp_path / "a.png")
    from_str = load_init_image(str(tmp_path / "a.png"))
    assert from_bytes.dtype == np.uint8 and from_bytes.shape == (48, 64, 4)
    assert (from_bytes == px).all() and (from_path == px).all() and (from_str == px).all()


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    values = np.array([[0, 257 * 100, 32896, 65535]], np.uint16)
    im = Image.fromarray(values)
    assert im.mode == "I;16"
    out = load_init_image(encode(im))
    assert out[0, :, 0].tolist() == [0, 100, 128, 255]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
    assert (out[..., 3] == 255).all()


def test_palette_image_keeps_its_transparency():
    im = Image.new("P", (4, 2))
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 1, 2, 0, 1, 1])
    data = encode(im, transparency=0)
    out = load_init_image(data)
    assert out[0, 0, 3] == 0 and out[1, 1, 3] == 0
    assert tuple(out[0, 1]) == (255, 0, 0, 255)
    assert tuple(out[0, 2]) == (0, 0, 255, 255)


def test_cmyk_is_converted():
    im = Image.new("CMYK", (3, 3), (0, 255, 255, 0))  # no cyan/black, full magenta+yellow
    out = load_init_image(encode(im, "TIFF"))
    assert (out[..., :3] == (255, 0, 0)).all() and (out[..., 3] == 255).all()


def test_grayscale_and_grayscale_alpha():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = load_init_image(encode(Image.fromarray(g, "L")))
    assert (out[..., 0] == g).all() and (out[..., 2] == g).all() and (out[..., 3] == 255).all()
    la = Image.merge("LA", (Image.fromarray(g, "L"), Image.fromarray(255 - g, "L")))
    out = load_init_image(encode(la))
    assert (out[..., 1] == g).all() and (out[..., 3] == 255 - g).all()


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 2  # really animated
    out = load_init_image(data)
    assert (out[..., :3] == (255, 0, 0)).all()


def test_animated_png_uses_the_first_frame():
    frames = [Image.new("RGBA", (5, 5), c) for c in ((0, 200, 0, 255), (9, 9, 9, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    out = load_init_image(buf.getvalue())
    assert (out == (0, 200, 0, 255)).all()


@pytest.mark.parametrize(("orientation", "rot_k"), [(1, 0), (3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(orientation, rot_k):
    px = noise(3, 5, seed=orientation)
    px[..., 3] = 255
    exif = Image.Exif()
    exif[274] = orientation
    data = encode(Image.fromarray(px, "RGBA"), exif=exif.tobytes())
    out = load_init_image(data)
    # independent expectation: EXIF 6 = shown rotated 90 degrees clockwise, 8 = counter-clockwise
    assert (out == np.rot90(px, k=rot_k)).all()


def test_exif_orientation_in_a_jpeg():
    px = np.zeros((64, 96, 3), np.uint8)
    px[:32, :48] = (250, 0, 0)  # top-left red
    px[:32, 48:] = (0, 250, 0)
    px[32:] = (0, 0, 250)
    exif = Image.Exif()
    exif[274] = 6
    out = load_init_image(encode(Image.fromarray(px, "RGB"), "JPEG", quality=95, exif=exif))
    assert out.shape == (96, 64, 4)  # rotated: width and height swap
    # 90 degrees clockwise: the old top-left (red) is now the top-right
    assert np.abs(out[10, 54, :3].astype(int) - (250, 0, 0)).max() < 12
    assert np.abs(out[10, 10, :3].astype(int) - (0, 0, 250)).max() < 12


# --- sizes -------------------------------------------------------------------------------------


def thirds(w=300, h=100) -> np.ndarray:
    px = np.zeros((h, w, 4), np.uint8)
    px[..., 3] = 255
    px[:, : w // 3, 0] = 255
    px[:, w // 3 : 2 * w // 3, 1] = 255
    px[:, 2 * w // 3 :, 2] = 255
    return px


def test_size_crop_keeps_the_centre():
    out = load_init_image(encode(Image.fromarray(thirds(), "RGBA")), size=(100, 100))
    assert out.shape == (100, 100, 4)
    assert (out[:, 5:-5, :3] == (0, 255, 0)).all()


def test_size_stretch_keeps_everything():
    data = encode(Image.fromarray(thirds(), "RGBA"))
    out = load_init_image(data, size=(60, 40), fit="stretch")
    assert out.shape == (40, 60, 4)
    assert tuple(out[20, 5, :3]) == (255, 0, 0) and tuple(out[20, 55, :3]) == (0, 0, 255)


@pytest.mark.parametrize("size", [(0, 10), (10,), (10, 10, 3), ("a", 3), (True, 4), (20000, 8)])
def test_bad_target_sizes(size):
    with pytest.raises(InvalidParamsError, match="size"):
        load_init_image(encode(Image.new("RGB", (4, 4))), size=size)


# --- bad inputs --------------------------------------------------------------------------------


def assert_refused(source, *words, **kw):
    with pytest.raises(InvalidParamsError) as e:
        load_init_image(source, **kw)
    for w in words:
        assert w in str(e.value), str(e.value)
    assert e.value.hint
    return e.value


def test_missing_file(tmp_path):
    assert_refused(tmp_path / "nope.png", "does not exist")


def test_folder(tmp_path):
    assert_refused(tmp_path, "folder")


def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    assert_refused(tmp_path / "e.png", "empty")


def test_text_file_renamed_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("these are my notes, not a picture\n" * 20)
    assert_refused(p, "not a readable image")


def test_random_bytes():
    assert_refused(np.random.default_rng(1).bytes(5000), "not a readable image")


def test_truncated_png():
    data = encode(Image.fromarray(noise(128, 128), "RGBA"))
    assert_refused(data[: len(data) // 2], "truncated")


def test_corrupt_png_data():
    data = bytearray(encode(Image.fromarray(noise(64, 64), "RGBA")))
    start = data.index(b"IDAT") + 4
    for i in range(start + 100, start + 400):
        data[i] ^= 0x5A
    assert_refused(bytes(data), "damaged")


def test_truncated_jpeg_is_refused():
    px = noise(64, 64)[..., :3].copy()
    data = encode(Image.fromarray(px, "RGB"), "JPEG")
    assert_refused(data[: len(data) // 3], "truncated")


def test_unsupported_format_is_not_tried():
    # a valid image, but in a format outside the allowed list (Pillow would read it)
    data = encode(Image.new("RGB", (4, 4), (1, 2, 3)), "PPM")
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (4, 4)
    assert_refused(data, "not a readable image")


def test_decompression_bomb_header_is_refused_without_decoding(no_decoding):
    # 100000 x 100000 RGBA would be 40 GB: Pillow itself refuses it while parsing the header
    assert_refused(png_header_only(100_000, 100_000), "too large")


def test_pixel_cap_is_checked_from_the_header_before_decoding(no_decoding, tmp_path):
    # 8000 x 8000 = 64 MP: under Pillow's own limit, over ours
    assert 8000 * 8000 > MAX_INPUT_PIXELS
    p = tmp_path / "big.png"
    p.write_bytes(png_header_only(8000, 8000))
    e = assert_refused(p, "8000x8000", "limit")
    assert "64,000,000" in e.message


def test_max_pixels_argument():
    data = encode(Image.new("RGB", (20, 20)))
    assert_refused(data, "20x20", max_pixels=399)
    assert load_init_image(data, max_pixels=400).shape == (20, 20, 4)


# --- masks -------------------------------------------------------------------------------------


def test_mask_from_grayscale_image():
    g = np.array([[0, 51, 255], [255, 102, 0]], np.uint8)
    m = load_mask(encode(Image.fromarray(g, "L")), size=(3, 2))
    assert m.dtype == np.float32 and m.shape == (2, 3)
    assert np.allclose(m, g / 255.0)


def test_mask_from_rgba_uses_alpha():
    px = np.zeros((2, 2, 4), np.uint8)
    px[..., :3] = 255  # white everywhere: the alpha must decide, not the colour
    px[..., 3] = [[0, 255], [128, 0]]
    m = load_mask(encode(Image.fromarray(px, "RGBA")), size=(2, 2))
    assert np.allclose(m, [[0, 1], [128 / 255, 0]])


def test_mask_from_opaque_rgb_uses_luminance():
    px = np.zeros((2, 2, 3), np.uint8)
    px[0, 0] = 255
    m = load_mask(encode(Image.fromarray(px, "RGB")), size=(2, 2))
    assert np.allclose(m, [[1, 0], [0, 0]])


def test_mask_from_arrays_and_invert():
    b = np.array([[True, False], [False, True]])
    assert load_mask(b, size=(2, 2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert load_mask(b, size=(2, 2), invert=True).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    u = np.array([[0, 255]], np.uint8)
    assert load_mask(u, size=None).tolist() == [[0.0, 1.0]]
    f = np.array([[0.25, 0.5]], np.float64)
    out = load_mask(f, size=(2, 1))
    assert out.dtype == np.float32 and out.tolist() == [[0.25, 0.5]]


@pytest.mark.parametrize(
    "arr",
    [
        np.array([[0.0, 1.5]]),
        np.array([[np.nan, 0.0]], np.float32),
        np.zeros((2, 2), np.int16),
        np.zeros((2, 2, 2), np.uint8),
    ],
)
def test_bad_mask_arrays(arr):
    with pytest.raises(InvalidParamsError):
        load_mask(arr, size=None)


def test_mask_of_the_wrong_size_is_refused_with_both_sizes():
    data = encode(Image.new("L", (64, 32), 255))
    with pytest.raises(InvalidParamsError) as e:
        load_mask(data, size=(128, 128))
    assert "64x32" in str(e.value) and "128x128" in str(e.value)
    assert e.value.hint


def test_mask_resize_follows_the_init_image_geometry():
    px = np.zeros((100, 300), np.uint8)
    px[:, 100:200] = 255  # the middle third is to be repainted
    data = encode(Image.fromarray(px, "L"))
    m = load_mask(data, size=(50, 50), resize=True)  # crop, like load_init_image's default
    assert m.shape == (50, 50) and m[:, 2:-2].min() > 0.99  # (the filter reaches past the box)
    assert m.min() > 0.8
    s = load_mask(data, size=(30, 10), resize=True, fit="stretch")
    assert s.shape == (10, 30)
    assert s[:, :8].max() < 0.01 and s[:, 12:18].min() > 0.99 and s[:, 22:].max() < 0.01
    assert s.min() >= 0.0 and s.max() <= 1.0


def test_mask_file_errors(tmp_path):
    with pytest.raises(InvalidParamsError, match="does not exist"):
        load_mask(tmp_path / "m.png", size=(2, 2))
    with pytest.raises(InvalidParamsError, match="not a readable image"):
        load_mask(b"GIF89a but not really", size=(2, 2))
    with pytest.raises(InvalidParamsError, match="too large"):
        load_mask(png_header_only(100_000, 100_000), size=(2, 2))


def test_mask_with_exif_rotation_matches_the_rotated_image():
    g = np.zeros((2, 4), np.uint8)
    g[0, 0] = 255
    exif = Image.Exif()
    exif[274] = 6
    m = load_mask(encode(Image.fromarray(g, "L"), exif=exif.tobytes()), size=(2, 4))
    assert m.shape == (4, 2) and m[0, 1] == 1.0 and m.sum() == 1.0


def test_init_image_and_its_original_size_from_one_decode():
    px = noise(30, 80)
    exif = Image.Exif()
    exif[274] = 6  # rotate: the original size is the displayed one, (30, 80)
    data = encode(Image.fromarray(px, "RGBA"), exif=exif.tobytes())
    rgba, orig = load_init_image_and_size(data, size=(16, 16))
    assert orig == (30, 80)
    assert np.array_equal(rgba, load_init_image(data, size=(16, 16)))
    same, orig2 = load_init_image_and_size(data)
    assert orig2 == (30, 80) and np.array_equal(same, load_init_image(data))
    with pytest.raises(InvalidParamsError, match="limit"):
        load_init_image_and_size(data, max_pixels=100)


def test_load_inputs_decodes_the_init_image_once(tmp_path, monkeypatch):
    init = tmp_path / "init.png"
    Image.fromarray(noise(96, 128), "RGBA").save(init)
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(mask)  # half the size, the same proportions
    decoded: list[str] = []
    real = imageio._open_decoded

    def counting(source, *, max_pixels, what):
        decoded.append(what)
        return real(source, max_pixels=max_pixels, what=what)

    monkeypatch.setattr(imageio, "_open_decoded", counting)
    p = ImageParams(prompt="x", init=str(init), mask=str(mask))
    img, m = load_inputs(p, (64, 64))
    assert decoded.count("init image") == 1
    assert np.array_equal(img, load_init_image(init, size=(64, 64)))
    assert m.shape == (64, 64) and m.min() > 0.99
    decoded.clear()
    img, m = load_inputs(ImageParams(prompt="x", init=str(init)), (32, 32))
    assert decoded == ["init image"] and img.shape == (32, 32, 4) and m is None
    wide = tmp_path / "wide.png"
    Image.new("L", (200, 50), 255).save(wide)
    with pytest.raises(InvalidParamsError, match="200x50 but the init image is 128x96"):
        load_inputs(ImageParams(prompt="x", init=str(init), mask=str(wide)), (64, 64))


# --- upscale -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 4])
def test_nearest_upscale_makes_exact_squares(factor):
    px = noise(5, 7)
    out = upscale(px, factor, method="nearest")
    assert out.shape == (5 * factor, 7 * factor, 4)
    assert (out == np.kron(px, np.ones((factor, factor, 1), np.uint8))).all()


def test_lanczos_upscale():
    flat = np.full((6, 9, 4), (10, 120, 230, 255), np.uint8)
    out = upscale(flat, 4, method="lanczos")
    assert out.shape == (24, 36, 4) and (out == (10, 120, 230, 255)).all()
    edge = np.zeros((8, 8, 3), np.uint8)
    edge[:, 4:] = 255
    up = upscale(edge, 2, method="lanczos")
    assert up.shape == (16, 16, 3)
    assert 0 < int(up[0, 7, 0]) < 255  # smoothed, not blocky


@pytest.mark.parametrize(
    ("image", "factor", "method"),
    [
        (np.zeros((4, 4, 4), np.uint8), 3, "nearest"),
        (np.zeros((4, 4, 4), np.uint8), True, "nearest"),
        (np.zeros((4, 4, 4), np.uint8), 2, "bicubic"),
        (np.zeros((4, 4), np.uint8), 2, "nearest"),
        (np.zeros((4, 4, 4), np.float32), 2, "nearest"),
        (np.zeros((1, 8193, 4), np.uint8), 2, "nearest"),
        (np.zeros((4097, 4097, 3), np.uint8), 2, "lanczos"),
    ],
)
def test_upscale_refuses(image, factor, method):
    with pytest.raises(InvalidParamsError):
        upscale(image, factor, method=method)
