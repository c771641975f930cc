"""``generators.images.export``: readable names, nearest-neighbour scale, the pixel-art version,
the generation settings kept (read back by sd-parsers, an independent reader), never
overwriting, atomic and all-or-nothing writes, clear errors for folders that cannot be written.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.images import export, metadata, pixelart
from genstudio.generators.images.metadata import ImageSettings

sd_parsers = pytest.importorskip("sd_parsers")

SETTINGS = ImageSettings(
    prompt="red apple, glossy",
    negative_prompt="blurry",
    steps=6,
    sampler="euler",
    cfg_scale=3.5,
    seed=3,
    width=16,
    height=12,
    model_name="images-icons",
)
RECORD = {"generator": "images.diffusion", "params": {"prompt": "red apple, glossy"}}


def pixels(h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    a[..., 3] = np.where(rng.random((h, w)) < 0.2, 0, 255)
    return a


def studio_png(path: Path, rgba: np.ndarray | None = None, settings=SETTINGS) -> Path:
    """A PNG as the studio writes it: A1111 ``parameters`` + GenStudio's record."""
    data = metadata.png_with_metadata(pixels() if rgba is None else rgba, settings, RECORD)
    path.write_bytes(data)
    return path


def decode(path_or_bytes) -> np.ndarray:
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src, formats=["PNG"]) as im:
        return np.array(im.convert("RGBA"))


def sd_info(path: Path):
    info = sd_parsers.ParserManager().parse(str(path))
    assert info is not None, f"sd-parsers finds no metadata in {path.name}"
    return info


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "seed", "stem"),
    [
        ("red apple", 3, "red-apple_seed3"),
        ("  Red   Apple, glossy!!  ", 0, "red-apple-glossy_seed0"),
        ('a<b>c:d"e/f\\g|h?i*j', 1, "a-b-c-d-e-f-g-h-i-j_seed1"),
        ("CON", 2, "con-image_seed2"),
        ("nul", None, "nul-image"),
        ("", 9, "image_seed9"),
        ("!!!", None, "image"),
        ("café au lait", 4, "café-au-lait_seed4"),
        ("tab\there\nnew_line", 5, "tab-here-new-line_seed5"),
    ],
)
def test_export_stem_is_readable_and_safe(prompt, seed, stem):
    assert export.export_stem(prompt, seed) == stem


def test_long_prompts_are_cut_at_a_word():
    words = "a fluffy orange cat sleeping on a windowsill in the warm afternoon sun"
    s = export.slug(words)
    assert len(s) <= export.MAX_SLUG_CHARS
    assert s == "a-fluffy-orange-cat-sleeping-on-a-windowsill-in"
    assert words.replace(" ", "-").startswith(s)  # whole words only
    one_word = "x" * 200
    assert export.slug(one_word) == "x" * export.MAX_SLUG_CHARS


def test_safe_stem_keeps_given_names_but_not_what_windows_refuses():
    assert export.safe_stem("melody-pop_3") == "melody-pop_3"
    assert export.safe_stem('a/b\\c:d*e?f"g<h>i|j') == "a-b-c-d-e-f-g-h-i-j"
    assert export.safe_stem(" .hidden. ") == "hidden"
    assert export.safe_stem("LPT1") == "LPT1-file"
    assert export.safe_stem("...") == ""


def test_planned_names_follow_scale_and_pixel_art(tmp_path):
    it = export.ImageToExport(tmp_path / "a.png", "red apple", 3)
    assert export.planned_names([it], export.ExportOptions()) == ["red-apple_seed3.png"]
    opts = export.ExportOptions(scale=4, pixel_art=True)
    assert export.planned_names([it], opts) == [
        "red-apple_seed3_x4.png",
        "red-apple_seed3_pixel_x4.png",
    ]
    jpg = export.ImageToExport(tmp_path / "b.JPG", "", 1)
    assert export.planned_names([jpg], export.ExportOptions()) == ["image_seed1.jpg"]
    assert export.planned_names([jpg], export.ExportOptions(scale=2)) == ["image_seed1_x2.png"]


@pytest.mark.parametrize("bad", [0, 3, 16, True, 2.0, "2"])
def test_scales_other_than_1_2_4_8_are_refused(bad, tmp_path):
    with pytest.raises(InvalidParamsError):
        export.ExportOptions(scale=bad).check()


# --- pixels and metadata -----------------------------------------------------------------------


def test_scale_1_copies_the_file_byte_for_byte(tmp_path):
    src = studio_png(tmp_path / "asset.png")
    out = tmp_path / "out"
    (written,) = export.export_images([export.ImageToExport(src, SETTINGS.prompt, 3)], out)
    assert written == out / "red-apple-glossy_seed3.png"
    assert written.read_bytes() == src.read_bytes()
    assert leftovers(out) == []


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_scaled_export_is_nearest_neighbour_and_keeps_the_settings(tmp_path, scale):
    rgba = pixels()
    src = studio_png(tmp_path / "asset.png", rgba)
    (path,) = export.export_images(
        [export.ImageToExport(src, SETTINGS.prompt, 3)],
        tmp_path / "out",
        export.ExportOptions(scale=scale),
    )
    assert path.name == f"red-apple-glossy_seed3_x{scale}.png"
    got = decode(path)
    assert got.shape == (12 * scale, 16 * scale, 4)
    # Pillow's own nearest-neighbour enlargement of the source is the reference
    with Image.open(src, formats=["PNG"]) as im:
        ref = np.array(im.resize((16 * scale, 12 * scale), Image.Resampling.NEAREST))
    assert np.array_equal(got, ref)
    assert np.array_equal(got[::scale, ::scale], rgba)

    # an independent reader finds the same prompt, seed and steps
    info = sd_info(path)
    assert info.full_prompt == SETTINGS.prompt
    assert info.full_negative_prompt == SETTINGS.negative_prompt
    (sampler,) = info.samplers
    assert sampler.parameters["seed"] == "3"
    assert sampler.parameters["steps"] == "6"
    # the A1111 text is the source's, byte for byte; GenStudio's record lists the export
    assert (
        metadata.png_text_chunks(path)["parameters"] == metadata.png_text_chunks(src)["parameters"]
    )
    rec = metadata.read_genstudio_record(path)
    assert rec is not None and rec["params"] == RECORD["params"]
    assert rec["postprocess"][-1] == {
        "step": "upscale",
        "factor": scale,
        "method": "nearest",
        "by": "export",
    }
    assert metadata.read_metadata(path).seed == 3


def test_pixel_art_version_is_the_generators_pixelate(tmp_path):
    rgba = pixels(32, 32, seed=4)
    src = studio_png(tmp_path / "asset.png", rgba)
    opts = export.ExportOptions(scale=2, pixel_art=True, grid=16, colors=6, outline=True)
    plain, pix = export.export_images(
        [export.ImageToExport(src, "red apple", 3)], tmp_path / "out", opts
    )
    assert (plain.name, pix.name) == ("red-apple_seed3_x2.png", "red-apple_seed3_pixel_x2.png")
    ref = pixelart.pixelate(rgba, grid=16, colors=6, outline=True).image
    got = decode(pix)
    assert got.shape == (32, 32, 4)
    assert np.array_equal(got[::2, ::2], ref)
    assert len({tuple(c) for c in got[got[..., 3] > 0][:, :3]}) <= 6
    assert set(np.unique(got[..., 3])) <= {0, 255}
    assert sd_info(pix).full_prompt == SETTINGS.prompt
    steps = [s["step"] for s in metadata.read_genstudio_record(pix)["postprocess"]]
    assert steps == ["pixel_art", "upscale"]


def test_colour_chunks_are_kept_and_a_png_without_metadata_exports_too(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(pixels(), "RGBA").save(buf, "PNG")  # no text chunk
    png = buf.getvalue()
    body = b"gAMA" + struct.pack(">I", 45455)
    gama = struct.pack(">I", 4) + body + struct.pack(">I", zlib.crc32(body))
    src = tmp_path / "plain.png"
    src.write_bytes(png[:33] + gama + png[33:])  # after the 8-byte signature and 25-byte IHDR
    with Image.open(src, formats=["PNG"]) as im:
        assert im.info["gamma"] == pytest.approx(0.45455)
    (path,) = export.export_images(
        [export.ImageToExport(src)], tmp_path / "out", export.ExportOptions(scale=2)
    )
    assert path.name == "image_x2.png"
    with Image.open(path, formats=["PNG"]) as im:
        assert im.info["gamma"] == pytest.approx(0.45455)
    assert metadata.read_metadata(path) is None
    assert decode(path).shape == (24, 32, 4)


def test_an_export_too_large_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_EXPORT_PIXELS", 40 * 40)
    src = studio_png(tmp_path / "asset.png")  # 16 x 12
    out = tmp_path / "out"
    with pytest.raises(InvalidParamsError, match="smaller scale|64x48"):
        export.export_images([export.ImageToExport(src, "x", 1)], out, export.ExportOptions(4))
    assert list(out.iterdir()) == []


# --- never overwrite, all or nothing -----------------------------------------------------------


def test_names_that_exist_get_2_3_and_nothing_is_overwritten(tmp_path):
    src = studio_png(tmp_path / "asset.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "red-apple_seed3.png").write_bytes(b"mine")
    item = export.ImageToExport(src, "red apple", 3)
    first = export.export_images([item, item], out)
    again = export.export_images([item], out)
    assert [p.name for p in first + again] == [
        "red-apple_seed3_2.png",
        "red-apple_seed3_3.png",
        "red-apple_seed3_4.png",
    ]
    assert (out / "red-apple_seed3.png").read_bytes() == b"mine"
    assert all(p.read_bytes() == src.read_bytes() for p in first + again)
    assert leftovers(out) == []


def test_a_name_taken_between_the_check_and_the_write_is_not_overwritten(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    taken = out / "song.mid"
    taken.write_bytes(b"someone else's")
    real = os.path.lexists
    calls = {"n": 0}

    def blind_once(p):  # the first check misses the file (it "appeared" after it)
        if Path(p) == taken and calls["n"] == 0:
            calls["n"] += 1
            return False
        return real(p)

    monkeypatch.setattr(export.os.path, "lexists", blind_once)
    (path,) = export.write_new_files(out, "song", [(".mid", b"ours")])
    assert path.name == "song_2.mid" and path.read_bytes() == b"ours"
    assert taken.read_bytes() == b"someone else's"
    assert leftovers(out) == []


def test_disks_without_hard_links_still_never_overwrite(tmp_path, monkeypatch):
    def no_links(*_a, **_k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(export.os, "link", no_links)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_bytes(b"old")
    paths = export.write_new_files(out, "a", [(".txt", b"new"), (".CREDITS.txt", b"c")])
    assert [p.name for p in paths] == ["a_2.txt", "a_2.CREDITS.txt"]
    assert (out / "a.txt").read_bytes() == b"old"
    assert [p.read_bytes() for p in paths] == [b"new", b"c"]
    assert leftovers(out) == []


def test_a_group_is_named_together(tmp_path):
    out = tmp_path
    (out / "hero.CREDITS.txt").write_text("other sheet's credits")
    paths = export.write_new_files(out, "hero", [(".png", b"p"), (".CREDITS.txt", b"c")])
    assert [p.name for p in paths] == ["hero_2.png", "hero_2.CREDITS.txt"]
    assert not (out / "hero.png").exists()


def test_a_failure_half_way_removes_what_the_export_wrote(tmp_path):
    good = studio_png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    with pytest.raises(GenStudioError):
        export.export_images(
            [export.ImageToExport(good, "good", 1), export.ImageToExport(bad, "bad", 2)],
            out,
            export.ExportOptions(scale=2),
        )
    assert list(out.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path):
    # root ignores permission bits, so the folder's parent is a regular file: that fails for all
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    src = studio_png(tmp_path / "asset.png")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(GenStudioError) as e:
        export.export_images([export.ImageToExport(src, "x", 1)], blocker / "out")
    msg = e.value.user_message()
    assert "Cannot create the export folder" in msg and str(blocker / "out") in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    with pytest.raises(GenStudioError, match="Choose a folder"):
        export.ensure_folder("  ")


def test_copy_file_keeps_the_extension_and_writes_extras_beside_it(tmp_path):
    src = tmp_path / "0123abcd.mid"
    src.write_bytes(b"MThd fake midi")
    out = tmp_path / "out"
    a = export.copy_file(src, out, "melody-pop_3")
    b = export.copy_file(src, out, "melody-pop_3", [(".CREDITS.txt", b"Art by someone")])
    assert [p.name for p in a] == ["melody-pop_3.mid"]
    assert [p.name for p in b] == ["melody-pop_3_2.mid", "melody-pop_3_2.CREDITS.txt"]
    assert a[0].read_bytes() == src.read_bytes()
    assert b[1].read_bytes() == b"Art by someone"
