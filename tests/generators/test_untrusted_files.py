"""Untrusted user files (issue 11, defects 1 and 3): one reader, an allow-list of formats, no
Ghostscript, regular files only, byte caps enforced while reading, bounds before allocation.

Every test here failed on the code before the fix: EPS bytes named .png reached Pillow's EPS
plugin (which runs ``gs``), /dev/zero was read until memory ran out, a FIFO blocked forever,
and a 2.8 KB MIDI with huge delta times allocated a per-bar list of billions of bars.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from genstudio.core import thumbs
from genstudio.core.atomic import read_file_bytes
from genstudio.core.errors import GenStudioError, InvalidParamsError, MidiFileError
from genstudio.core.safeimage import harden_pillow, open_image, read_image_file
from genstudio.generators import palettes
from genstudio.generators.images import imageio
from genstudio.generators.music import midi

# PostScript that would write a file if any interpreter ran it (and loop forever after)
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n"
    b"(/tmp/genstudio-eps-ran) (w) file closefile\n{ } loop\nshowpage\n%%EOF\n"
)


@pytest.fixture
def no_subprocess(monkeypatch):
    """Any attempt to start a program (Ghostscript) fails the test."""
    calls: list[object] = []

    def refuse(*a, **kw):
        calls.append(a[0] if a else kw.get("args"))
        raise AssertionError(f"a subprocess was started: {a[:1]}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "check_call", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    return calls


def _within(seconds: float, fn, *args):
    """Run fn(*args) in a thread; fail if it does not finish (a FIFO would block forever)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} blocked for more than {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    yield path
    # a blocked reader (on the old code) would still be waiting: release it
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


# --- defect 1: Ghostscript / EPS ------------------------------------------------------------


@pytest.mark.parametrize("name", ["eps_named.png", "eps.gif", "eps.bmp", "eps.webp"])
def test_eps_palette_is_refused_without_running_anything(tmp_path, no_subprocess, name):
    path = tmp_path / name
    path.write_bytes(EPS)
    with pytest.raises(InvalidParamsError, match="not a readable"):
        palettes.read_palette(path)
    assert not no_subprocess
    assert not Path("/tmp/genstudio-eps-ran").exists()


def test_eps_init_image_mask_and_thumbnail_are_refused(tmp_path, no_subprocess):
    path = tmp_path / "photo.png"
    path.write_bytes(EPS)
    with pytest.raises(InvalidParamsError, match="not a readable image"):
        imageio.load_init_image(path)
    with pytest.raises(InvalidParamsError, match="not a readable image"):
        imageio.load_mask(path, size=None)
    with pytest.raises(InvalidParamsError):
        read_image_file(path)
    assert thumbs.render_thumbnail(path, 64) is None
    assert not no_subprocess


def test_pillow_cannot_reach_ghostscript_anywhere_after_hardening(no_subprocess):
    from PIL import EpsImagePlugin, Image, UnidentifiedImageError

    harden_pillow()
    assert "EPS" not in Image.OPEN and "EPS" not in Image.ID
    assert EpsImagePlugin.has_ghostscript() is False
    # even a plain Image.open without a format list (a library's, say) no longer knows EPS
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(EPS))
    assert not no_subprocess


def test_allowed_formats_still_open(tmp_path):
    from PIL import Image

    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    for fmt, ext in [("PNG", "png"), ("BMP", "bmp"), ("GIF", "gif"), ("TIFF", "tif")]:
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").convert("RGB").save(buf, fmt)
        im = open_image(buf.getvalue())
        assert im.size == (6, 4), fmt
        p = tmp_path / f"x.{ext}"
        p.write_bytes(buf.getvalue())
        assert read_image_file(p).size == (6, 4)


def test_decompression_bomb_palette_is_a_clear_error(tmp_path):
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(InvalidParamsError) as e:
        palettes.read_palette(path)
    assert "60000x60000" in str(e.value) or "too large" in str(e.value)


# --- defect 3: devices, FIFOs, caps, bounds -------------------------------------------------


@pytest.mark.parametrize(
    "reader",
    [
        palettes.read_palette,
        imageio.load_init_image,
        midi.read_midi,
        read_image_file,
        read_file_bytes,
    ],
    ids=["palette", "init", "midi", "image", "bytes"],
)
def test_dev_zero_is_refused_at_once(reader):
    tracemalloc.start()
    try:
        with pytest.raises(GenStudioError, match="not a regular file"):
            _within(10, reader, "/dev/zero")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


@pytest.mark.parametrize(
    "reader",
    [palettes.read_palette, imageio.load_init_image, midi.read_midi, read_image_file],
    ids=["palette", "init", "midi", "image"],
)
def test_fifo_is_refused_without_blocking(fifo, reader):
    with pytest.raises(GenStudioError, match="FIFO"):
        _within(10, reader, fifo)


def test_fifo_thumbnail_is_none_without_blocking(fifo):
    assert _within(10, thumbs.render_thumbnail, fifo, 64) is None


def test_byte_cap_is_enforced_while_reading_not_from_st_size(tmp_path, monkeypatch):
    path = tmp_path / "big.gpl"
    path.write_bytes(b"GIMP Palette\n" + b"1 2 3\n" * 200)
    # a file system that reports size 0 (as /proc and some FUSE mounts do) must not get past
    # the cap: lie about st_size and check the reader still stops after max_bytes + 1
    real_fstat = os.fstat

    class Lying:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return 0 if name == "st_size" else getattr(self._st, name)

    monkeypatch.setattr(os, "fstat", lambda fd: Lying(real_fstat(fd)))
    with pytest.raises(GenStudioError, match="larger than"):
        read_file_bytes(path, max_bytes=100)
    assert len(read_file_bytes(path, max_bytes=10_000)) == path.stat().st_size


def _huge_delta_midi(n: int = 200) -> bytes:
    track = b""
    for i in range(n):
        track += b"\xff\xff\xff\x7f" + bytes([0x90, 60 + i % 12, 100])  # max delta, note on
        track += b"\x00" + bytes([0x80, 60 + i % 12, 0])
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += (1).to_bytes(2, "big")  # division 1: every tick is a quarter note
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def test_midi_with_huge_delta_times_is_refused_before_allocating(tmp_path):
    data = _huge_delta_midi()
    assert len(data) < 3000
    path = tmp_path / "tiny.mid"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(MidiFileError, match="bars long"):
            _within(20, midi.read_midi, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


def test_tokens_encode_bounds_bars_before_allocating():
    from genstudio.generators.music import score as sc
    from genstudio.generators.music import tokens as tk

    s = sc.Score(tracks=tk.style_tracks("folk"), tempo=120.0, time_signature=(4, 4), key=None)
    far = s.with_notes([sc.Note(10**12, 60, 480, 90, 0)])
    with pytest.raises(InvalidParamsError, match="bars long"):
        _within(10, tk.encode, far, "folk")


def test_cli_music_continue_with_huge_deltas_is_an_error(tmp_path, capsys):
    from genstudio import cli

    path = tmp_path / "tiny.mid"
    path.write_bytes(_huge_delta_midi())
    for mode in ("continue", "drums"):
        code = _within(
            60,
            cli.main,
            ["generate", "music", "--mode", mode, "--input", str(path), "--out", str(tmp_path)],
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert "bars long" in err and "Traceback" not in err


def test_tiny_rle_bmp_declaring_megapixels_is_refused_from_its_header(monkeypatch):
    """Fuzz finding (image_bmp): 168 bytes of RLE BMP declaring 2293766x4 pixels kept Pillow's
    pure-Python RLE decoder busy for seconds of CPU."""
    from PIL import ImageFile

    repro = Path(__file__).parents[1] / "campaigns" / "fuzz_repro" / "image_bmp"
    data = (repro / "rle_168_bytes_9mp.bmp").read_bytes()
    assert len(data) == 168

    def no_decode(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(InvalidParamsError, match="RLE-compressed"):
        open_image(data)  # refused from the header


def test_tiny_midi_declaring_thousands_of_bars_is_refused():
    """Fuzz finding (midi): 144 bytes declaring 18,562 bars made `--mode drums` write 232,000
    notes (seconds of CPU). The bound on bars is derived from the file before anything is built."""
    repro = Path(__file__).parents[1] / "campaigns" / "fuzz_repro" / "midi"
    data = (repro / "144_bytes_18562_bars.mid").read_bytes()
    assert len(data) == 144
    with pytest.raises(MidiFileError, match="18,562 bars long"):
        midi.read_midi(data)


def test_a_socket_is_named_as_such(tmp_path):
    import socket

    path = tmp_path / "sock.gpl"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        with pytest.raises(GenStudioError, match="it is a socket"):
            palettes.read_palette(path)
        with pytest.raises(GenStudioError, match="it is a socket"):
            midi.read_midi(path)
    finally:
        s.close()


def test_model_modes_refuse_clips_longer_than_they_can_read(tmp_path, capsys):
    """Outside probe: a 32 KB clip of 4,090 bars kept --mode variations busy for 22 s (the
    model reads every bar); the model modes take clips of up to 256 bars."""
    from genstudio import cli
    from genstudio.generators.music import score as sc
    from genstudio.generators.music import tokens as tk

    s = sc.Score(tracks=tk.style_tracks("folk"), tempo=120.0, time_signature=(4, 4), key=None)
    notes = [sc.Note(i * 1920, 60 + i % 5, 480, 90, 0) for i in range(300)]
    path = tmp_path / "long.mid"
    path.write_bytes(midi.midi_bytes(s.with_notes(notes)))
    for mode in ("variations", "continue"):
        argv = ["generate", "music", "--mode", mode, "--input", str(path), "--out", str(tmp_path)]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "300 bars long" in err and "up to 256 bars" in err
