"""Coverage-guided fuzzing of every parser of user input (issue 11, "Must show").

One target per parser; each feeds the fuzzer's bytes through the *real* entry point a user's
file goes through (bytes written to a temp file with the right extension, then the path-based
function the CLI and the studio call)::

    python -m tests.campaigns.fuzz --list
    python -m tests.campaigns.fuzz TARGET --seconds 60          # atheris / libFuzzer
    python -m tests.campaigns.fuzz TARGET --replay FILE...       # no atheris needed
    python -m tests.campaigns.fuzz --make-seeds                  # (re)write fuzz_seeds/

Expected outcome of any input: the function returns, or raises a
:class:`~genstudio.core.errors.GenStudioError` subclass with a non-empty message. Anything
else is a *finding*: another exception (a traceback for the user), an empty error message, a
Pillow decoder outside the allow-list being reached (:class:`ForbiddenDecoder` - the
Ghostscript hole of issue 11 #1), a unit running over 5 s (libFuzzer ``-timeout=5``, wall
clock; or, with ``--cpu-timeout 5``, 5 CPU-seconds measured with ``ITIMER_PROF``, a
:class:`Hang`) or the process passing 1 GiB (``-rss_limit_mb=1024``).

With ``--keep-going`` (what :mod:`tests.campaigns.fuzz_all` uses) an exception finding is
written to ``--findings DIR`` (a JSON with the traceback + the input, first input per
signature) and fuzzing continues; without it the exception reaches atheris, which prints it,
saves ``crash-<sha1>`` and stops. Hangs and out-of-memory always stop the process (libFuzzer
writes ``timeout-*`` / ``oom-*``); the runner restarts it.

Seeds: ``tests/campaigns/fuzz_seeds/<target>/`` (small valid files, written by
``--make-seeds``); reproducers of findings: ``tests/campaigns/fuzz_repro/<target>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEEDS_DIR = HERE / "fuzz_seeds"
REPRO_DIR = HERE / "fuzz_repro"

#: Pillow formats any product path may open on user bytes (imageio.ALLOWED_FORMATS).
ALLOWED_PIL_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"})


class ForbiddenDecoder(BaseException):  # noqa: N818 - a finding, not an error the product handles
    """A Pillow decoder outside the allow-list was reached with user bytes.

    A BaseException so that no ``except Exception`` in the product can swallow it."""


class EmptyMessage(Exception):  # noqa: N818
    """A GenStudioError whose message is empty."""


class Hang(BaseException):  # noqa: N818 - a finding; BaseException: no product except catches it
    """One input used more than the harness' CPU-time limit (``--cpu-timeout``)."""


@dataclass
class Target:
    name: str
    run: Callable[[bytes, Path], None]
    seeds: Callable[[], dict[str, bytes]]
    doc: str
    max_len: int = 64 * 1024
    instrument: tuple[str, ...] = ("genstudio",)
    setup: Callable[[Path], None] | None = None
    state: dict[str, Any] = field(default_factory=dict)


TARGETS: dict[str, Target] = {}


def target(
    name: str,
    seeds: Callable[[], dict[str, bytes]],
    *,
    max_len: int = 64 * 1024,
    instrument: tuple[str, ...] = ("genstudio",),
    setup: Callable[[Path], None] | None = None,
) -> Callable[[Callable[[bytes, Path], None]], Callable[[bytes, Path], None]]:
    def deco(fn: Callable[[bytes, Path], None]) -> Callable[[bytes, Path], None]:
        TARGETS[name] = Target(
            name, fn, seeds, (fn.__doc__ or "").strip(), max_len, instrument, setup
        )
        return fn

    return deco


@contextlib.contextmanager
def expected_errors() -> Any:
    """Inside a target: a GenStudioError with a message is an accepted outcome of this step
    (the target goes on with its next step); one without a message is a finding."""
    from genstudio.core.errors import GenStudioError

    try:
        yield
    except GenStudioError as e:
        if not str(e.message or "").strip():
            raise EmptyMessage(f"{type(e).__name__} with an empty message") from e


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --------------------------------------------------------------------------- seed helpers


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _tiny_rgba(w: int = 6, h: int = 4) -> Any:
    import numpy as np

    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 4), np.uint8)
    a[..., 0] = (x * 40) % 256
    a[..., 1] = (y * 60) % 256
    a[..., 2] = 128
    a[..., 3] = 255
    a[0, 0, 3] = 0
    return a


def _pil_bytes(fmt: str, mode: str = "RGBA", size: tuple[int, int] = (6, 4), **kw: Any) -> bytes:
    from PIL import Image

    im = Image.fromarray(_tiny_rgba(*size), "RGBA")
    if mode != "RGBA":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_with_text(keyword: str, text: bytes) -> bytes:
    """A tiny valid PNG with one tEXt chunk ``keyword`` (raw Latin-1 bytes) before IDAT."""
    base = _pil_bytes("PNG", "RGB", (2, 2))
    sig, rest = base[:8], base[8:]
    ihdr_len = struct.unpack(">I", rest[:4])[0]
    ihdr = rest[: 12 + ihdr_len]
    chunk = _png_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text)
    return sig + ihdr + chunk + rest[12 + ihdr_len :]


def _foreign_formats() -> dict[str, bytes]:
    """Files in formats outside the allow-list (a product path must never decode them)."""
    eps = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\n"
        b"newpath 0 0 moveto 4 4 lineto stroke\nshowpage\n%%EOF\n"
    )
    return {
        "foreign.eps": eps,
        "foreign.ico": _pil_bytes("ICO", "RGBA", (16, 16)),
        "foreign.pcx": _pil_bytes("PCX", "RGB"),
        "foreign.tga": _pil_bytes("TGA", "RGBA"),
        "foreign.ppm": _pil_bytes("PPM", "RGB"),
    }


def _image_seeds(fmt: str) -> Callable[[], dict[str, bytes]]:
    def make() -> dict[str, bytes]:
        from PIL import Image

        out: dict[str, bytes] = {}
        if fmt == "PNG":
            out["rgba.png"] = _pil_bytes("PNG")
            out["p.png"] = _pil_bytes("PNG", "P")
            out["la.png"] = _pil_bytes("PNG", "LA")
            out["l16.png"] = _pil_bytes("PNG", "I;16")
            out["text.png"] = _png_with_text("parameters", b"a cat\nSteps: 20, Seed: 1, Size: 2x2")
            frames = [Image.fromarray(_tiny_rgba(), "RGBA"), Image.new("RGBA", (6, 4), "red")]
            buf = io.BytesIO()
            frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
            out["apng.png"] = buf.getvalue()
        elif fmt == "JPEG":
            out["rgb.jpg"] = _pil_bytes("JPEG", "RGB", (16, 16), quality=50)
            out["gray.jpg"] = _pil_bytes("JPEG", "L", (16, 16))
            out["cmyk.jpg"] = _pil_bytes("JPEG", "CMYK", (16, 16))
            im = Image.fromarray(_tiny_rgba(16, 16), "RGBA").convert("RGB")
            ex = Image.Exif()
            ex[274] = 6
            buf = io.BytesIO()
            im.save(buf, "JPEG", exif=ex, progressive=True)
            out["exif_progressive.jpg"] = buf.getvalue()
        elif fmt == "WEBP":
            out["lossless.webp"] = _pil_bytes("WEBP", "RGBA", lossless=True)
            out["lossy.webp"] = _pil_bytes("WEBP", "RGB", (16, 16), quality=30)
        elif fmt == "BMP":
            out["rgb.bmp"] = _pil_bytes("BMP", "RGB")
            out["p.bmp"] = _pil_bytes("BMP", "P")
            out["1.bmp"] = _pil_bytes("BMP", "1")
            out["rle8.bmp"] = _pil_bytes("BMP", "P", compression="rle8") if _bmp_rle() else b""
        elif fmt == "GIF":
            out["p.gif"] = _pil_bytes("GIF", "P")
            frames = [Image.fromarray(_tiny_rgba(), "RGBA"), Image.new("RGBA", (6, 4), "blue")]
            buf = io.BytesIO()
            frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], loop=0)
            out["anim.gif"] = buf.getvalue()
        elif fmt == "TIFF":
            out["rgba.tif"] = _pil_bytes("TIFF", "RGBA")
            out["lzw.tif"] = _pil_bytes("TIFF", "RGB", compression="tiff_lzw")
            out["i16.tif"] = _pil_bytes("TIFF", "I;16")
            out["cmyk.tif"] = _pil_bytes("TIFF", "CMYK")
            out["1.tif"] = _pil_bytes("TIFF", "1")
        return {k: v for k, v in out.items() if v}

    return make


def _bmp_rle() -> bool:
    from PIL import Image

    try:
        Image.new("P", (2, 2)).save(io.BytesIO(), "BMP", compression="rle8")
    except Exception:
        return False
    return True


def _all_image_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"):
        out.update(_image_seeds(fmt)())
    return out


def _sniff_image_ext(data: bytes, default: str = "png") -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF":
        return "webp"
    if data.startswith(b"GIF8"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\0", b"MM\0*"):
        return "tif"
    return default


# --------------------------------------------------------------------------- images


def fix_png_crcs(data: bytes) -> bytes:
    """``data`` with the CRC of every complete PNG chunk made right, so that mutations reach
    the chunk parsers instead of stopping at the CRC check (unchanged if not a PNG)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


def _image_target(fmt: str, ext: str) -> None:
    def run(data: bytes, work: Path) -> None:
        from genstudio.generators.images import imageio

        variants = [data]
        if fmt == "PNG" and fix_png_crcs(data) != data:
            variants.append(fix_png_crcs(data))  # and past the CRC checks
        for raw in variants:
            p = _write(work / f"input.{ext}", raw)
            with expected_errors():
                imageio.load_init_image_and_size(p, size=(24, 16))  # --init / the init well
            with expected_errors():
                imageio.load_mask(p, size=None)  # --mask / the mask well

    run.__doc__ = (
        f"{fmt} through imageio.load_init_image_and_size (--init) and imageio.load_mask "
        "(--mask), the path every user image takes in the Images mode."
    )
    target(f"image_{fmt.lower()}", _image_seeds(fmt), instrument=("genstudio", "PIL"))(run)


for _fmt, _ext in (
    ("PNG", "png"),
    ("JPEG", "jpg"),
    ("WEBP", "webp"),
    ("BMP", "bmp"),
    ("GIF", "gif"),
    ("TIFF", "tif"),
):
    _image_target(_fmt, _ext)


def _thumb_seeds() -> dict[str, bytes]:
    out = _all_image_seeds()
    out.update(_foreign_formats())
    return out


@target("thumbnail", _thumb_seeds, instrument=("genstudio", "PIL"))
def _thumbnail(data: bytes, work: Path) -> None:
    """Gallery thumbnails: core.thumbs.write_thumbnail (Gallery.thumbnail) of an asset file,
    pixel-art and photo scaling; must return False for an unreadable file, never raise."""
    from genstudio.core import thumbs

    ext = _sniff_image_ext(data)
    src = _write(work / f"asset.{ext}", data)
    dst = work / "thumb.png"
    pixel = bool(data) and data[-1] & 1 == 1
    ok = thumbs.write_thumbnail(src, dst, 64, pixel_art=pixel)
    if not isinstance(ok, bool):
        raise TypeError(f"write_thumbnail returned {ok!r}")


# --------------------------------------------------------------------------- palettes


def _palette_text_seeds() -> dict[str, bytes]:
    return {
        "gpl": b"GIMP Palette\nName: test\nColumns: 4\n# comment\n  0   0   0 black\n"
        b"255 255 255\t white\n12 200 34\n",
        "hex": b"000000\n#ffffff\n1a2B3c\n\nff0000\n",
        "pal": b"JASC-PAL\r\n0100\r\n3\r\n0 0 0\r\n255 255 255\r\n10 20 30\r\n",
    }


def _riff_pal() -> bytes:
    ents = bytes([0, 0, 0, 0, 255, 255, 255, 0, 10, 20, 30, 0])
    data = struct.pack("<HH", 0x300, 3) + ents
    body = b"PAL " + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _palette_seeds(kind: str) -> Callable[[], dict[str, bytes]]:
    def make() -> dict[str, bytes]:
        t = _palette_text_seeds()
        if kind == "gpl":
            return {"basic.gpl": t["gpl"], "empty_body.gpl": b"GIMP Palette\n"}
        if kind == "hex":
            return {"basic.hex": t["hex"], "bom.hex": b"\xef\xbb\xbf#00ff00\r\n"}
        if kind == "pal":
            return {"jasc.pal": t["pal"], "riff.pal": _riff_pal()}
        from PIL import Image

        out = {
            "strip.png": _pil_bytes("PNG", "RGB", (8, 1)),
            "strip_p.png": _pil_bytes("PNG", "P", (8, 1)),
            "strip.gif": _pil_bytes("GIF", "P", (8, 1)),
            "strip.bmp": _pil_bytes("BMP", "RGB", (8, 1)),
            "strip.webp": _pil_bytes("WEBP", "RGBA", (8, 1), lossless=True),
        }
        buf = io.BytesIO()
        Image.new("RGBA", (3, 1), (0, 0, 0, 0)).save(buf, "PNG")
        out["transparent.png"] = buf.getvalue()
        out.update(_foreign_formats())
        return out

    return make


def _palette_target(kind: str, ext: str | None) -> None:
    def run(data: bytes, work: Path) -> None:
        from genstudio.generators import palettes

        e = ext or _sniff_image_ext(data, "png")
        if e == "jpg" or e == "tif":
            e = "png"  # palette images are .png/.gif/.bmp/.webp; other bytes still try
        palettes.read_palette(_write(work / f"palette.{e}", data))

    run.__doc__ = (
        f"Palette {('.' + ext) if ext else 'image (.png/.gif/.bmp/.webp)'} through "
        "sprites.palettes.read_palette (--palette of generate sprite and of --pixel-art)."
    )
    instr = ("genstudio", "PIL") if ext is None else ("genstudio",)
    target(f"palette_{kind}", _palette_seeds(kind), instrument=instr)(run)


_palette_target("gpl", "gpl")
_palette_target("hex", "hex")
_palette_target("pal", "pal")
_palette_target("png", None)


# --------------------------------------------------------------------------- music


def _midi_seeds() -> dict[str, bytes]:
    from genstudio.generators.music import midi
    from genstudio.generators.music import score as sc

    out: dict[str, bytes] = {}
    notes = [
        sc.Note(start=i * 240, duration=240, pitch=60 + (i * 5) % 12, velocity=90, track=0)
        for i in range(16)
    ]
    bass = [
        sc.Note(start=i * 960, duration=960, pitch=40 + i % 5, velocity=70, track=1)
        for i in range(4)
    ]
    drums = [
        sc.Note(start=i * 480, duration=60, pitch=36 + (i % 2) * 2, velocity=100, track=2)
        for i in range(8)
    ]
    tracks = [
        sc.Track("melody", program=0),
        sc.Track("bass", program=33),
        sc.Track("drums", program=0, is_drum=True),
    ]
    score = sc.Score(
        notes=sorted(notes + bass + drums), tracks=tracks, tempo=100.0, time_signature=(4, 4)
    )
    out["three_tracks.mid"] = midi.midi_bytes(score)
    waltz = sc.Score(notes=notes[:6], tracks=tracks[:1], tempo=140.0, time_signature=(3, 4))
    out["waltz.mid"] = midi.midi_bytes(waltz)
    # a format-0 file with running status, a key signature and a tempo change, by hand
    trk = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo
        b"\x00\xff\x59\x02\x02\x01"  # key: 2 sharps, minor
        b"\x00\xff\x58\x04\x06\x03\x18\x08"  # 6/8
        b"\x00\x90\x40\x50\x60\x43\x50\x60\x40\x00\x60\x43\x00"
        b"\x00\xff\x2f\x00"
    )
    out["format0.mid"] = (
        b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(trk)) + trk
    )
    return out


@target("midi", _midi_seeds)
def _midi(data: bytes, work: Path) -> None:
    """A MIDI clip through what `generate music --mode drums` and `--mode continue` do before the
    model runs: generator.read_clip (midi.read_midi), drums.add_drums + midi_bytes of the
    result, fit_to_style, the key estimate and tokens.encode (the tokenizer)."""
    from dataclasses import replace

    from genstudio.generators.music import drums, midi
    from genstudio.generators.music import generator as gen
    from genstudio.generators.music import tokens as tk

    p = _write(work / "clip.mid", data)
    clip = gen.read_clip(str(p))
    midi.midi_bytes(drums.add_drums(clip, seed=1))  # --mode drums writes this
    style = gen._style_of(clip, "auto")
    fitted = None
    with expected_errors():
        fitted = gen.fit_to_style(clip, style)
    if fitted is None:
        return
    key = fitted.key or gen._estimate_key(fitted)
    if fitted.time_signature not in tk.TIME_SIGNATURES:
        return  # compose() refuses it with an InvalidParamsError here
    seq = tk.encode(replace(fitted, key=key), style)
    tk.decode(seq, tempo=fitted.tempo)


def _wav_seeds() -> dict[str, bytes]:
    import wave

    import numpy as np

    from genstudio.generators.music import audio_io

    t = np.linspace(0, 1, 64, dtype=np.float32)
    out = {
        "mono16.wav": audio_io.wav_bytes(np.sin(t * 40), 8000),
        "stereo16.wav": audio_io.wav_bytes(np.stack([t, -t], 1), 22050),
    }
    for width in (1, 3, 4):
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(width)
            w.setframerate(8000)
            w.writeframes(bytes(range(width * 2 * 8)))
        out[f"w{width}.wav"] = buf.getvalue()
    return out


@target("wav", _wav_seeds)
def _wav(data: bytes, work: Path) -> None:
    """A WAV file through the studio's reader (ui.modes.music.state.read_wav, which plays a
    music asset's rendered .wav) and audio_io.read_wav."""
    from genstudio.generators.music import audio_io

    p = _write(work / "audio.wav", data)
    audio_io.read_wav(p)
    try:
        from genstudio.ui.modes.music import state
    except ImportError:  # no Qt here: the product path is audio_io's
        return
    state.read_wav(p)


def tiny_sf2(n_samples: int = 64) -> bytes:
    """A minimal valid SoundFont 2: one preset -> one instrument -> one sine sample."""
    import math

    def chunk(cid: bytes, data: bytes) -> bytes:
        return cid + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")

    def lst(kind: bytes, *chunks: bytes) -> bytes:
        return chunk(b"LIST", kind + b"".join(chunks))

    def name(text: str) -> bytes:
        return text.encode()[:20].ljust(20, b"\0")

    smpl = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * i / 16))) for i in range(n_samples)
    ) + bytes(2 * 46)
    info = lst(
        b"INFO",
        chunk(b"ifil", struct.pack("<HH", 2, 1)),
        chunk(b"isng", b"EMU8000\0"),
        chunk(b"INAM", b"fuzz\0\0"),
    )
    sdta = lst(b"sdta", chunk(b"smpl", smpl))
    phdr = (
        name("Sine")
        + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
        + name("EOP")
        + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)
    )
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0)
    pmod = bytes(10)
    pgen = struct.pack("<HH", 41, 0) + struct.pack("<HH", 0, 0)  # instrument 0
    inst = name("SineInst") + struct.pack("<H", 0) + name("EOI") + struct.pack("<H", 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 2, 0)
    imod = bytes(10)
    igen = (
        struct.pack("<HH", 54, 1)  # sampleModes: loop
        + struct.pack("<HH", 53, 0)
        + struct.pack("<HH", 0, 0)
    )  # sampleID 0
    shdr = (
        name("sine")
        + struct.pack("<IIIIIBbHH", 0, n_samples, 8, n_samples - 8, 8000, 69, 0, 0, 1)
        + name("EOS")
        + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    )
    pdta = lst(
        b"pdta",
        chunk(b"phdr", phdr),
        chunk(b"pbag", pbag),
        chunk(b"pmod", pmod),
        chunk(b"pgen", pgen),
        chunk(b"inst", inst),
        chunk(b"ibag", ibag),
        chunk(b"imod", imod),
        chunk(b"igen", igen),
        chunk(b"shdr", shdr),
    )
    body = b"sfbk" + info + sdta + pdta
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _soundfont_seeds() -> dict[str, bytes]:
    return {"sine.sf2": tiny_sf2(), "long.sf2": tiny_sf2(400)}


@target("soundfont", _soundfont_seeds)
def _soundfont(data: bytes, work: Path) -> None:
    """A SoundFont (--soundfont, the studio's SoundFont setting) through
    music.soundfont.render_soundfont (header check, tinysoundfont's native loader, rendering of
    a two-note score); render_audio falls back to the synth on its SoundFontError."""
    from genstudio.generators.music import score as sc
    from genstudio.generators.music import soundfont

    TARGETS["soundfont"].state["n"] = n = TARGETS["soundfont"].state.get("n", 0) + 1
    p = _write(work / f"font{n % 2}.sf2", data)  # a new name each time: no cached synth
    score = sc.Score(
        notes=[
            sc.Note(start=0, duration=120, pitch=69, velocity=100, track=0),
            sc.Note(start=0, duration=60, pitch=36, velocity=100, track=1),
        ],
        tracks=[sc.Track("lead", program=0), sc.Track("drums", program=0, is_drum=True)],
        tempo=240.0,
    )
    soundfont.render_soundfont(score, p, 8000)


# --------------------------------------------------------------------------- projects


def _project_template(work: Path) -> Path:
    """A real project with one image asset (made once per process)."""
    tpl = work / "template"
    if (tpl / "project.json").is_file():
        return tpl
    from genstudio.core.project import Project

    if tpl.exists():
        shutil.rmtree(tpl)
    with Project.create(tpl, "Fuzz") as proj:
        rec = proj.add_asset(
            kind="image",
            data=_pil_bytes("PNG"),
            ext="png",
            generator="images.diffusion",
            params={"prompt": "a cat", "steps": 4},
            seed=7,
            extra={"name_hint": "cat"},
        )
        (tpl / "asset_id").write_text(rec.id)
        proj.gallery.set_tags(rec.id, ["pet", "cat"])
    return tpl


def _project_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        tpl = _project_template(Path(d))
        doc = (tpl / "project.json").read_bytes()
    v1 = json.dumps({"version": 1, "name": "Old", "created": "2024-01-01T00:00:00Z"}).encode()
    return {"project.json": doc, "v1.json": v1}


@target("project_json", _project_seeds)
def _project_json(data: bytes, work: Path) -> None:
    """project.json through core.project.Project.open (project open, migrations, read-only
    fallback), then a gallery query and close - what `genstudio project info`/the studio do."""
    from genstudio.core.project import Project

    d = _fresh_dir(work / "proj")
    _write(d / "project.json", data)
    proj = Project.open(d)
    try:
        proj.gallery.query()
    finally:
        proj.close()


def _sidecar_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        tpl = _project_template(Path(d))
        aid = (tpl / "asset_id").read_text()
        return {"sidecar.json": (tpl / "assets" / f"{aid}.json").read_bytes()}


@target("sidecar", _sidecar_seeds)
def _sidecar(data: bytes, work: Path) -> None:
    """An asset sidecar through core.assets.read_sidecar and through the reconcile that
    Project.open runs on a project whose sidecar was edited (gallery rebuilt from sidecars)."""
    from genstudio.core import assets
    from genstudio.core.project import Project

    tpl = _project_template(work)
    aid = (tpl / "asset_id").read_text()
    side = _write(work / "side" / f"{aid}.json", data)
    with expected_errors():
        assets.read_sidecar(side)
    d = work / "proj"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(tpl, d)
    (d / "gallery.sqlite").unlink(missing_ok=True)
    for extra in ("gallery.sqlite-wal", "gallery.sqlite-shm"):
        (d / extra).unlink(missing_ok=True)
    _write(d / "assets" / f"{aid}.json", data)
    proj = Project.open(d)
    try:
        for rec in proj.gallery.query():
            proj.gallery.get(rec.id)
    finally:
        proj.close()


# --------------------------------------------------------------------------- model packs


def _tiny_onnx(path: Path, external: str | None = None) -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from tests.helpers.onnxmodels import linear_model

    linear_model(path, in_dim=2, out_dim=2, external_data=external)


def _pack_seeds() -> dict[str, bytes]:
    from genstudio.runtime.packs import write_pack

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _tiny_onnx(root / "model.onnx")
        (root / "vocab.txt").write_text("a\nb\n")
        write_pack(
            root,
            id="fuzz.pack",
            kind="test",
            files=["model.onnx", "vocab.txt"],
            license="MIT",
            attribution="GenStudio tests",
            inputs=[{"name": "x"}],
            training={"steps": 1},
            metrics={"loss": 0.5},
        )
        return {"model.json": (root / "model.json").read_bytes()}


def _pack_setup(work: Path) -> None:
    root = work / "pack_files"
    if not root.is_dir():
        root.mkdir(parents=True)
        _tiny_onnx(root / "model.onnx")
        (root / "vocab.txt").write_text("a\nb\n")


@target("model_json", _pack_seeds, setup=_pack_setup)
def _model_json(data: bytes, work: Path) -> None:
    """model.json through runtime.packs.load_pack (verify=True): the load path of every model
    pack (shipped, user, imported)."""
    from genstudio.runtime import packs

    root = work / "pack_files"
    _write(root / "model.json", data)
    packs.load_pack(root, verify=True)


def _onnx_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _tiny_onnx(root / "a" / "model.onnx")
        _tiny_onnx(root / "b" / "model.onnx", external="weights.bin")
        from tests.helpers.onnxmodels import if_model_with_subgraph_tensor

        if_model_with_subgraph_tensor(root / "c" / "model.onnx")
        return {
            "inline.onnx": (root / "a" / "model.onnx").read_bytes(),
            "external.onnx": (root / "b" / "model.onnx").read_bytes(),
            "subgraph.onnx": (root / "c" / "model.onnx").read_bytes(),
        }


def _onnx_setup(work: Path) -> None:
    root = work / "onnx_pack"
    if not (root / "weights.bin").is_file():
        with tempfile.TemporaryDirectory() as d:
            _tiny_onnx(Path(d) / "model.onnx", external="weights.bin")
            root.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(d) / "weights.bin", root / "weights.bin")


@target("onnx", _onnx_seeds, setup=_onnx_setup)
def _onnx(data: bytes, work: Path) -> None:
    """An .onnx file's header through the checks run before ONNX Runtime sees it:
    runtime.packs.load_pack of a pack whose model.json lists it with its true hash
    (check_model_file, verify, check_onnx_external_data) and the SD-folder reader
    sd_folder._onnx_io (pickle check, onnx.load without weights, inputs/outputs, external data)."""
    from genstudio.generators.images.sd import folder as sd_folder
    from genstudio.runtime import packs

    root = work / "onnx_pack"
    model = _write(root / "model.onnx", data)
    files = {}
    for name in ("model.onnx", "weights.bin"):
        raw = (root / name).read_bytes()
        files[name] = {"sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    doc = {
        "id": "fuzz.onnx",
        "kind": "test",
        "version": "1",
        "license": "",
        "attribution": "",
        "files": files,
    }
    _write(root / "model.json", json.dumps(doc).encode())
    with expected_errors():
        packs.load_pack(root, verify=True)
    sd_folder._onnx_io(model, root)


# --------------------------------------------------------------------------- image metadata


def _metadata_file_seeds() -> dict[str, bytes]:
    from PIL import Image

    from genstudio.generators.images import metadata as md

    s = md.ImageSettings(
        prompt="a cat",
        negative_prompt="blurry",
        steps=20,
        sampler="euler_a",
        cfg_scale=7.0,
        seed=42,
        width=6,
        height=4,
        source="genstudio",
    )
    out = {"genstudio.png": md.png_with_metadata(_pil_bytes("PNG"), s, {"generator": "x"})}
    ztxt = _png_with_text("x", b"")  # placeholder replaced below by a zTXt
    z = _png_chunk(
        b"zTXt", b"parameters\0\0" + zlib.compress(b"dog\nSteps: 5, Seed: 3, CFG scale: 2")
    )
    out["ztxt.png"] = ztxt[:33] + z + ztxt[33:]
    itxt = _png_chunk(
        b"iTXt",
        b"parameters\0\1\0\0\0"
        + zlib.compress("cat \u00e9\nSteps: 5, Seed: 3, Sampler: Euler a".encode()),
    )
    out["itxt.png"] = ztxt[:33] + itxt + ztxt[33:]
    im = Image.new("RGB", (8, 8), "white")
    ex = Image.Exif()
    ifd = ex.get_ifd(0x8769)
    ifd[0x9286] = b"UNICODE\0" + "a fox\nSteps: 9, Seed: 5, Size: 8x8".encode("utf-16-be")
    for fmt, ext in (("JPEG", "jpg"), ("WEBP", "webp")):
        buf = io.BytesIO()
        im.save(buf, fmt, exif=ex)
        out[f"exif.{ext}"] = buf.getvalue()
    return out


def _check_settings(s: Any) -> None:
    """What "Reuse these settings" does with read settings: write them again (A1111 text and a
    PNG with them); a wrongly typed value would surface here."""
    from genstudio.generators.images import metadata as md

    if s is None:
        return
    if not isinstance(s, md.ImageSettings):
        raise TypeError(f"read_metadata returned {type(s).__name__}")
    md.a1111_parameters(s)
    md.png_with_metadata(_BASE_PNG(), s)
    s2 = md.ImageSettings.from_dict(s.to_dict())
    if s2 != s:
        raise AssertionError(f"settings change through to_dict/from_dict: {s!r} -> {s2!r}")


_BASE: list[bytes] = []


def _BASE_PNG() -> bytes:  # noqa: N802
    if not _BASE:
        _BASE.append(_pil_bytes("PNG", "RGB", (2, 2)))
    return _BASE[0]


@target("metadata_file", _metadata_file_seeds, instrument=("genstudio", "PIL"))
def _metadata_file(data: bytes, work: Path) -> None:
    """Whole image files (PNG chunks, JPEG/WebP EXIF) through images.metadata.read_metadata
    (the Images mode's "read settings from an image"), read_genstudio_record and
    png_text_chunks."""
    from genstudio.generators.images import metadata as md

    for raw in dict.fromkeys((data, fix_png_crcs(data))):
        p = _write(work / f"meta.{_sniff_image_ext(raw)}", raw)
        _check_settings(md.read_metadata(p))
        md.read_genstudio_record(p)
        md.png_text_chunks(p)


def _text_target(
    name: str, keywords: tuple[str, ...], seeds: Callable[[], dict[str, bytes]], doc: str
) -> None:
    def run(data: bytes, work: Path) -> None:
        from genstudio.generators.images import metadata as md

        png = _BASE_PNG()
        chunks = b"".join(_png_chunk(b"tEXt", k.encode() + b"\0" + data) for k in keywords)
        p = _write(work / "meta.png", png[:33] + chunks + png[33:])
        _check_settings(md.read_metadata(p))
        if name == "metadata_genstudio":
            md.read_genstudio_record(p)
            return
        if name == "metadata_a1111":
            text = data.decode("utf-8", errors="replace")
            if len(text) <= md.MAX_A1111_CHARS:
                _check_settings(md.parse_a1111(text))
            return
        # read_metadata catches a reader's unexpected exception defensively (the image is then
        # read as having no settings): call the readers themselves so such a bug is a finding
        text = data.decode("latin-1")  # what a tEXt chunk decodes to
        readers = {
            "metadata_comfyui": (md._parse_comfyui,),
            "metadata_invokeai": (
                md._parse_invokeai,
                md._parse_invokeai_sd_metadata,
                md._parse_invokeai_dream,
            ),
        }[name]
        for reader in readers:
            _check_settings(reader(text))

    run.__doc__ = doc
    target(name, seeds, max_len=16 * 1024)(run)


def _a1111_seeds() -> dict[str, bytes]:
    return {
        "basic.txt": b"a cat, best quality\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M "
        b"Karras, CFG scale: 7, Seed: 123, Size: 512x768, Model hash: 6ce0161689, "
        b"Model: v1-5, Denoising strength: 0.5, Clip skip: 2, Version: v1.6.0",
        "quoted.txt": b'x\nSteps: 4, Seed: -1, Lora hashes: "a: 1, b: 2", Template: "p\\n\\"q\\""',
        "genstudio.txt": b"dog\nSteps: 1, Sampler: LCM, CFG scale: 1.5, Seed: 18446744073709551615,"
        b" Size: 64x64, Version: genstudio 0.1.0",
    }


def _comfy_seeds() -> dict[str, bytes]:
    g = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286,
                "steps": 20,
                "cfg": 8,
                "sampler_name": "euler",
                "scheduler": "karras",
                "denoise": 0.6,
                "model": ["10", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 512, "height": ["12", 0], "batch_size": 1},
        },
        "12": {"class_type": "PrimitiveNode", "inputs": {"value": 768}},
        "11": {
            "class_type": "CLIPSetLastLayer",
            "inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["13", 0], "clip": ["11", 0]}},
        "13": {"class_type": "PrimitiveString", "inputs": {"string": "scenery, bottle"}},
        "7": {
            "class_type": "ConditioningCombine",
            "inputs": {"conditioning_1": ["8", 0], "conditioning_2": ["6", 0]},
        },
        "8": {
            "class_type": "CLIPTextEncodeSDXL",
            "inputs": {"text_g": "watermark", "clip": ["4", 1]},
        },
        "9": {
            "class_type": "KSamplerAdvanced",
            "inputs": {"noise_seed": 5, "steps": 10, "latent_image": ["3", 0]},
        },
    }
    return {
        "graph.json": json.dumps(g).encode(),
        "tiny.json": b'{"1":{"class_type":"KSampler","inputs":{"seed":1,"positive":["1",0]}}}',
    }


def _invoke_seeds() -> dict[str, bytes]:
    v3 = {
        "generation_mode": "img2img",
        "positive_prompt": "castle",
        "negative_prompt": "blur",
        "width": 768,
        "height": 512,
        "seed": 2871652047,
        "cfg_scale": 7.5,
        "steps": 30,
        "scheduler": "dpmpp_2m_k",
        "clip_skip": 1,
        "strength": 0.4,
        "model": {"name": "sd-1.5", "hash": "blake3:abc"},
    }
    sd = {
        "model_weights": "sd-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b",
        "image": {
            "prompt": [{"prompt": "a cat [ugly]", "weight": 1}],
            "steps": 50,
            "cfg_scale": 7.5,
            "seed": 3357757885,
            "width": 512,
            "height": 512,
            "sampler": "k_euler_a",
            "type": "img2img",
            "strength": 0.7,
        },
    }
    return {
        "v3.json": json.dumps(v3).encode(),
        "sd_metadata.json": json.dumps(sd).encode(),
        "dream.txt": b'"a cat on a mat [ugly, blurry]" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 '
        b"-A k_lms -f 0.5",
    }


def _genstudio_record_seeds() -> dict[str, bytes]:
    from genstudio.generators.images import metadata as md

    s = md.ImageSettings(
        prompt="a cat \u00e9",
        negative_prompt="blurry",
        steps=20,
        sampler="dpmpp_2m",
        cfg_scale=7.5,
        seed=2**63,
        width=64,
        height=64,
        model_name="icons",
        model_hash="ab" * 32,
        denoising_strength=0.25,
        clip_skip=2,
        extra={"Schedule type": "Karras"},
    )
    rec = {
        "format": md.GENSTUDIO_FORMAT,
        "version": md.GENSTUDIO_FORMAT_VERSION,
        "generator": "images.diffusion",
        "params": {"prompt": "a cat", "steps": 20},
        "settings": s.to_dict(),
    }
    return {"record.json": json.dumps(rec, ensure_ascii=True).encode()}


_text_target(
    "metadata_genstudio",
    ("genstudio",),
    _genstudio_record_seeds,
    "GenStudio's own `genstudio` JSON record in a PNG through images.metadata.read_metadata and "
    "read_genstudio_record (a fuzzed chunk keeps a valid CRC, so the JSON itself is fuzzed).",
)
_text_target(
    "metadata_a1111",
    ("parameters",),
    _a1111_seeds,
    "A1111 `parameters` text in a PNG through images.metadata.read_metadata, and parse_a1111 "
    "directly; read settings are written back (a1111_parameters, png_with_metadata).",
)
_text_target(
    "metadata_comfyui",
    ("prompt",),
    _comfy_seeds,
    "ComfyUI `prompt` graph JSON in a PNG through images.metadata.read_metadata.",
)
_text_target(
    "metadata_invokeai",
    ("invokeai_metadata", "sd-metadata", "Dream"),
    _invoke_seeds,
    "InvokeAI `invokeai_metadata` (3+), `sd-metadata` and `Dream` (2.x) in a PNG through "
    "images.metadata.read_metadata (each reader gets the bytes; the first that reads wins).",
)


# --------------------------------------------------------------------------- running


def _guard_pillow() -> Callable[[], None]:
    """Make every Pillow decoder outside the allow-list raise ForbiddenDecoder when tried.
    Returns the function that puts Pillow's registry back (for use inside a test session)."""
    from PIL import Image

    Image.init()
    saved = dict(Image.OPEN)
    for fmt, (_factory, accept) in list(Image.OPEN.items()):
        if fmt in ALLOWED_PIL_FORMATS:
            continue

        def forbidden(*a: Any, _fmt: str = fmt, **k: Any) -> Any:
            raise ForbiddenDecoder(f"Pillow's {_fmt} decoder was tried on user bytes")

        Image.OPEN[fmt] = (forbidden, accept)

    def restore() -> None:
        # Put back the decoders replaced above, but not one removed meanwhile: a target that
        # ran harden_pillow() took EPS out for good, and re-adding it here undid the hardening
        # for the rest of the test session (the Ghostscript test failed after this one).
        for fmt in list(Image.OPEN):
            if fmt in saved:
                Image.OPEN[fmt] = saved[fmt]

    return restore


def signature(exc: BaseException) -> str:
    """Type + the innermost frame inside genstudio (else the innermost frame): one per bug."""
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if f.name != "_on_cpu_timeout"]
    ours = [f for f in tb if "/genstudio/" in f.filename.replace("\\", "/")]
    frame = (ours or tb or [None])[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}:{frame.name}" if frame else "?"
    return f"{type(exc).__name__}@{where}"


class Harness:
    """Runs one target on bytes; classifies the outcome."""

    def __init__(
        self,
        tgt: Target,
        work: Path,
        findings: Path | None = None,
        *,
        cpu_timeout: float = 0,
        stats: Path | None = None,
    ) -> None:
        self.target = tgt
        self.work = work
        self.findings = findings
        self.cpu_timeout = cpu_timeout
        self.stats = stats
        self.seen: set[str] = set()
        self.execs = 0
        self.slowest_cpu_s = 0.0
        if tgt.setup is not None:
            tgt.setup(work)
        if cpu_timeout > 0:
            signal.signal(signal.SIGPROF, self._on_cpu_timeout)

    def _on_cpu_timeout(self, signum: int, frame: Any) -> None:
        raise Hang(f"one input used more than {self.cpu_timeout:g} CPU-seconds")

    def check(self, data: bytes) -> None:
        """Raise the finding for ``data`` (any exception that is not a GenStudioError with a
        message, ForbiddenDecoder, Hang); return normally when the outcome is acceptable."""
        from genstudio.core.errors import GenStudioError

        self.execs += 1
        t0 = time.process_time()
        if self.cpu_timeout > 0:  # SIGPROF counts this process' CPU time, not the wall clock
            signal.setitimer(signal.ITIMER_PROF, self.cpu_timeout)
        try:
            self.target.run(data, self.work)
        except GenStudioError as e:
            if not str(e.message or "").strip():
                raise EmptyMessage(f"{type(e).__name__} with an empty message") from e
        finally:
            if self.cpu_timeout > 0:
                signal.setitimer(signal.ITIMER_PROF, 0)
            dt = time.process_time() - t0
            if dt > self.slowest_cpu_s:
                self.slowest_cpu_s = dt
                if self.stats is not None and dt > 0.05:
                    self.stats.write_text(json.dumps({"slowest_unit_cpu_s": round(dt, 3)}))

    def one_input(self, data: bytes) -> None:
        """The fuzzer's callback (keep-going mode: record and continue)."""
        try:
            self.check(data)
        except (Exception, ForbiddenDecoder, Hang) as e:
            if self.findings is None:
                raise
            self.record(e, data)

    def record(self, exc: BaseException, data: bytes) -> str:
        sig = signature(exc)
        if sig in self.seen:
            return sig
        self.seen.add(sig)
        assert self.findings is not None
        self.findings.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha1(sig.encode()).hexdigest()[:12]
        (self.findings / f"{h}.bin").write_bytes(data)
        (self.findings / f"{h}.json").write_text(
            json.dumps(
                {
                    "target": self.target.name,
                    "signature": sig,
                    "exception": type(exc).__name__,
                    "message": str(exc)[:2000],
                    "traceback": "".join(traceback.format_exception(exc))[-6000:],
                    "input": f"{h}.bin",
                    "input_size": len(data),
                },
                indent=2,
            )
        )
        print(f"FINDING {self.target.name}: {sig}: {str(exc)[:200]}", file=sys.stderr, flush=True)
        return sig


def make_seeds(names: list[str] | None = None) -> None:
    for name in names or sorted(TARGETS):
        out = SEEDS_DIR / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for fname, data in TARGETS[name].seeds().items():
            (out / fname).write_bytes(data)
        print(f"{name}: {len(list(out.iterdir()))} seeds")


def seed_files(name: str) -> list[Path]:
    d = SEEDS_DIR / name
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def repro_files(name: str) -> list[Path]:
    d = REPRO_DIR / name
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix != ".md") if d.is_dir() else []


def _quiet() -> None:
    logging.disable(logging.CRITICAL)
    os.environ.setdefault("GENSTUDIO_NO_TELEMETRY", "1")


def _import_targets(tgt: Target, instrumented: bool) -> None:
    """Import the product modules a target uses (under atheris' instrumentation if asked)."""
    import importlib
    import importlib.util

    mods = [
        "genstudio.core.errors",
        "genstudio.core.atomic",
        "genstudio.core.assets",
        "genstudio.core.project",
        "genstudio.core.gallery",
        "genstudio.core.thumbs",
        "genstudio.generators.images.imageio",
        "genstudio.generators.images.metadata",
        "genstudio.generators.palettes",
        "genstudio.generators.music.midi",
        "genstudio.generators.music.tokens",
        "genstudio.generators.music.drums",
        "genstudio.generators.music.generator",
        "genstudio.generators.music.metrics",
        "genstudio.generators.music.audio_io",
        "genstudio.runtime.packs",
    ]
    if tgt.name == "onnx":
        mods.append("genstudio.generators.images.sd.folder")
    if tgt.name == "wav" and importlib.util.find_spec("PySide6") is not None:
        mods.append("genstudio.ui.modes.music.state")
    if "PIL" in tgt.instrument:
        mods += [
            "PIL.Image",
            "PIL.ImageOps",
            "PIL.PngImagePlugin",
            "PIL.JpegImagePlugin",
            "PIL.WebPImagePlugin",
            "PIL.BmpImagePlugin",
            "PIL.GifImagePlugin",
            "PIL.TiffImagePlugin",
            "PIL.TiffTags",
            "PIL.ImageFile",
        ]
    if instrumented:
        import atheris

        with atheris.instrument_imports(include=list(tgt.instrument)):
            for m in mods:
                importlib.import_module(m)
    else:
        for m in mods:
            importlib.import_module(m)


def replay(name: str, files: list[Path], work: Path) -> list[tuple[Path, str, str]]:
    """Run ``files`` through target ``name``; the findings as (file, signature, message)."""
    tgt = TARGETS[name]
    restore = _guard_pillow()
    try:
        h = Harness(tgt, work)
        out: list[tuple[Path, str, str]] = []
        for f in files:
            try:
                h.check(f.read_bytes())
            except (Exception, ForbiddenDecoder) as e:
                out.append((f, signature(e), f"{type(e).__name__}: {str(e)[:300]}"))
        return out
    finally:
        restore()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.campaigns.fuzz",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("target", nargs="?")
    ap.add_argument("--list", action="store_true", help="list the targets")
    ap.add_argument("--make-seeds", action="store_true", help="write fuzz_seeds/<target>/")
    ap.add_argument("--seconds", type=int, default=60, help="libFuzzer -max_total_time")
    ap.add_argument("--runs", type=int, default=-1, help="libFuzzer -runs (default: no limit)")
    ap.add_argument("--corpus", type=Path, help="writable corpus folder (default: a temp one)")
    ap.add_argument("--artifacts", type=Path, help="where libFuzzer writes crash/timeout/oom")
    ap.add_argument("--findings", type=Path, help="with --keep-going: where findings go")
    ap.add_argument("--keep-going", action="store_true", help="record findings and continue")
    ap.add_argument("--replay", nargs="*", type=Path, help="run these files (no fuzzing)")
    ap.add_argument("--no-instrument", action="store_true", help="fuzz without coverage")
    ap.add_argument("--rss-limit-mb", type=int, default=1024)
    ap.add_argument("--timeout", type=int, default=5, help="libFuzzer's wall-clock limit per input")
    ap.add_argument(
        "--cpu-timeout", type=float, default=0, help="with --keep-going: CPU-seconds per input"
    )
    ap.add_argument("--stats", type=Path, help="with --keep-going: the slowest input's CPU time")
    ap.add_argument("--work", type=Path, help="scratch folder for the temp files (default: temp)")
    args = ap.parse_args(argv)

    if args.list:
        for n, t in sorted(TARGETS.items()):
            print(f"{n:18s} {t.doc.splitlines()[0] if t.doc else ''}")
        return 0
    if args.make_seeds:
        make_seeds([args.target] if args.target else None)
        return 0
    if args.target not in TARGETS:
        ap.error(f"unknown target {args.target!r}; see --list")
    tgt = TARGETS[args.target]
    _quiet()
    if args.work is not None:
        work = _fresh_dir(args.work)
    else:
        work = Path(tempfile.mkdtemp(prefix=f"gs-fuzz-{tgt.name}-"))
    try:
        if args.replay is not None:
            _import_targets(tgt, instrumented=False)
            files = args.replay or seed_files(tgt.name) + repro_files(tgt.name)
            bad = replay(tgt.name, files, work)
            for f, sig, msg in bad:
                print(f"FINDING {tgt.name}: {f}: {sig}: {msg}")
            print(f"{tgt.name}: replayed {len(files)} files, {len(bad)} findings")
            return 1 if bad else 0

        import atheris

        _import_targets(tgt, instrumented=not args.no_instrument)
        _guard_pillow()
        findings = args.findings if args.keep_going else None
        if args.keep_going and findings is None:
            findings = work / "findings"
        harness = Harness(
            tgt,
            work,
            findings,
            cpu_timeout=args.cpu_timeout if args.keep_going else 0,
            stats=args.stats,
        )
        corpus = args.corpus or (work / "corpus")
        corpus.mkdir(parents=True, exist_ok=True)
        artifacts = args.artifacts or (work / "artifacts")
        artifacts.mkdir(parents=True, exist_ok=True)
        flags = [
            sys.argv[0],
            f"-max_total_time={args.seconds}",
            f"-timeout={args.timeout}",
            f"-rss_limit_mb={args.rss_limit_mb}",
            f"-max_len={tgt.max_len}",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            "-close_fd_mask=1",  # the product's stdout chatter; stderr keeps libFuzzer's stats
        ]
        if args.runs >= 0:
            flags.append(f"-runs={args.runs}")
        flags += [str(corpus)]
        seeds = SEEDS_DIR / tgt.name
        if seeds.is_dir():
            flags.append(str(seeds))
        repro = REPRO_DIR / tgt.name
        if repro.is_dir() and any(repro.iterdir()):
            flags.append(str(repro))
        atheris.Setup(flags, harness.one_input)
        atheris.Fuzz()
        return 0
    finally:  # (after fuzzing libFuzzer exits the process itself: --work is reused instead)
        if args.replay is not None or args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
