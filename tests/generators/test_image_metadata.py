"""Image generation metadata: GenStudio's PNG chunks, A1111 text, other tools' files.

The independent reader is PyPI ``sd-parsers`` (a maintained reader of A1111, ComfyUI, InvokeAI,
NovelAI and Fooocus metadata, not written by us): it must read the ``parameters`` chunk of our
PNGs, and where it reads another tool's file too, our reading must agree with its reading.

No real third-party images are available offline, so the "written by another tool" fixtures
are built here exactly as those tools write them, following their published formats and source:
A1111 (``images.save_image_with_geninfo``: Pillow ``PngInfo.add_text("parameters", infotext)``
for PNG; piexif ``UserComment`` with the ``UNICODE`` prefix and UTF-16 BE text for JPEG/WebP),
ComfyUI (``SaveImage``: ``add_text("prompt", json.dumps(api_graph))`` and
``add_text("workflow", json.dumps(ui_graph))``; the default graph of its UI), InvokeAI 3+
(``add_text("invokeai_metadata", json.dumps(metadata))``) and InvokeAI 2.x (``sd-metadata``
JSON and the ``Dream`` string).
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images import metadata as md
from genstudio.generators.images.metadata import (
    ImageMetadataError,
    ImageSettings,
    a1111_parameters,
    parse_a1111,
    png_with_metadata,
    read_metadata,
)

try:  # the independent reader (dev dependency); without it only its cross-checks are skipped
    import sd_parsers
except ImportError:  # pragma: no cover
    sd_parsers = None


# --- helpers -------------------------------------------------------------------------------------


def rgba(h: int = 6, w: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def pillow_png(img, pnginfo: PngImagePlugin.PngInfo | None = None) -> bytes:
    im = img if isinstance(img, Image.Image) else Image.fromarray(img)
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=pnginfo)
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im).copy()


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def chunk(ctype: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(ctype + data) if crc is None else crc
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def build(parts: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(t, d) for t, d in parts)


def keyword(data: bytes) -> bytes:
    return data.split(b"\0", 1)[0]


def without(png: bytes, kw: bytes) -> bytes:
    return build([(t, d) for t, d in chunks(png) if not (t in md._TEXT_TYPES and keyword(d) == kw)])


def insert_before_idat(png: bytes, raw_chunk: bytes) -> bytes:
    i = png.index(b"IDAT") - 4
    return png[:i] + raw_chunk + png[i:]


def with_text(img, **texts: str) -> bytes:
    """A PNG whose text chunks are written the way A1111/ComfyUI/InvokeAI write them."""
    info = PngImagePlugin.PngInfo()
    for k, v in texts.items():
        info.add_text(k.replace("_dash_", "-"), v)
    return pillow_png(img, info)


def a1111_reference(text: str) -> dict[str, str]:
    """A1111's own reader (modules/infotext_utils.py parse_generation_parameters, core part)
    with the regex from shared/FORMATS.md, as the reference our writer is checked against."""
    re_param = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    res: dict[str, str] = {}
    prompt, negative, done = "", "", False
    *lines, last = text.strip().split("\n")
    if len(re_param.findall(last)) < 3:
        lines.append(last)
        last = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done = True
            line = line[16:].strip()
        if done:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"], res["Negative prompt"] = prompt, negative
    for k, v in re_param.findall(last):
        if v[0] == '"' and v[-1] == '"':
            v = json.loads(v)
        m = re.match(r"^(\d+)x(\d+)$", v)
        if m:
            res[f"{k}-1"], res[f"{k}-2"] = m.group(1), m.group(2)
        else:
            res[k] = v
    return res


def sd(data: bytes):
    """sd-parsers' reading of an image (the cross-checks come last in each test)."""
    if sd_parsers is None:  # pragma: no cover
        pytest.skip("sd-parsers is not installed (pip install sd-parsers)")
    info = sd_parsers.ParserManager().parse(io.BytesIO(data))
    assert info is not None, "sd-parsers found no metadata"
    return info


SETTINGS = ImageSettings(
    prompt="a lighthouse on a cliff, stormy sky",
    negative_prompt="blurry, lowres",
    steps=20,
    sampler="euler_a",
    cfg_scale=7.0,
    seed=965400086,
    width=512,
    height=512,
    model_name="genstudio-sd15",
    model_hash="6ce0161689",
    denoising_strength=0.7,
    clip_skip=2,
)

TRICKY = [
    SETTINGS,
    # commas, colons, quotes, newlines and unicode in the prompts (unicode -> iTXt)
    ImageSettings(
        prompt='a "cat", sitting: on a mat\n(masterpiece:1.2), café ☕, 猫',
        negative_prompt='bad: hands, "text"\nwatermark',
        steps=30,
        sampler="dpmpp_2m",
        cfg_scale=6.5,
        seed=2**32 - 1,
        width=768,
        height=512,
        model_name="sd15 pruned",
        model_hash="a" * 64,
        extra={
            "Schedule type": "Karras",
            "Lora hashes": "add_detail: 7c6bad76eb54, style: 0123456789ab",
            "Hires upscaler": "R-ESRGAN 4x+",
            "Note": '"quoted" start',
            "Padded": " spaces ",
        },
    ),
    # no negative prompt, Latin-1 only (tEXt), default clip skip, img2img
    ImageSettings(
        prompt="naïve façade, señor",
        steps=8,
        sampler="lcm",
        cfg_scale=1.5,
        seed=0,
        width=64,
        height=1024,
        model_name="tiny",
        denoising_strength=0.35,
    ),
    ImageSettings(prompt="line one\nline two\nline three", steps=4, sampler="ddim", seed=7),
]


# --- A1111 text ----------------------------------------------------------------------------------


def test_a1111_text_is_exactly_the_documented_layout():
    assert a1111_parameters(SETTINGS) == (
        "a lighthouse on a cliff, stormy sky\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, "
        "Model hash: 6ce0161689, Model: genstudio-sd15, Denoising strength: 0.7, Clip skip: 2, "
        "Version: genstudio 0.1.0"
    )
    # no negative prompt: the line is omitted; clip skip 1 is A1111's default and omitted
    s = ImageSettings(prompt="p", steps=4, sampler="lcm", cfg_scale=1.5, seed=1, clip_skip=1)
    assert a1111_parameters(s) == "p\nSteps: 4, Sampler: LCM, CFG scale: 1.5, Seed: 1, " + (
        "Version: genstudio 0.1.0"
    )


def test_a1111_quoting_and_order_follow_a1111():
    s = TRICKY[1]
    text = a1111_parameters(s)
    last = text.split("\n")[-1]
    assert last.startswith("Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5")
    assert "Model hash: aaaaaaaaaa, Model: sd15 pruned" in last  # shorthash of a full sha256
    assert 'Lora hashes: "add_detail: 7c6bad76eb54, style: 0123456789ab"' in last
    assert "Hires upscaler: R-ESRGAN 4x+," in last  # no comma/colon/newline: bare
    assert last.endswith("Version: genstudio 0.1.0")
    ref = a1111_reference(text)
    assert ref["Prompt"] == s.prompt and ref["Negative prompt"] == s.negative_prompt
    assert (ref["Steps"], ref["Sampler"], ref["CFG scale"], ref["Seed"]) == (
        "30",
        "DPM++ 2M",
        "6.5",
        str(2**32 - 1),
    )
    assert (ref["Size-1"], ref["Size-2"]) == ("768", "512")
    for k, v in s.extra.items():
        assert ref[k] == v, k


@pytest.mark.parametrize("i", range(len(TRICKY)))
def test_parse_a1111_inverts_a1111_parameters(i):
    s = TRICKY[i]
    back = parse_a1111(a1111_parameters(s))
    expected = ImageSettings(**{**s.to_dict(), "model_hash": s.model_hash and s.model_hash[:10]})
    if s.clip_skip == 1:
        expected.clip_skip = None
    assert back == expected


def test_parse_a1111_unknown_keys_garbage_and_limits():
    s = parse_a1111("just a prompt, with: colon")
    assert s == ImageSettings(prompt="just a prompt, with: colon", source="a1111")
    s = parse_a1111("p\nSteps: many, Seed: 12, Size: 99999999x5, Foo bar: baz, CFG scale: nan")
    assert (s.steps, s.seed, s.width, s.height, s.cfg_scale) == (None, 12, None, None, None)
    assert s.extra == {"Steps": "many", "Size": "99999999x5", "Foo bar": "baz", "CFG scale": "nan"}
    assert parse_a1111("") == ImageSettings(source="a1111")
    assert parse_a1111("\n\n\x00\x01garbage\n").prompt == "\x00\x01garbage"
    # old A1111 combined sampler names
    s = parse_a1111("p\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1")
    assert s.sampler == "dpmpp_2m" and s.extra == {"Schedule type": "Karras"}
    with pytest.raises(ImageMetadataError):
        parse_a1111("x" * (md.MAX_A1111_CHARS + 1))
    with pytest.raises(TypeError):
        parse_a1111(b"bytes")  # type: ignore[arg-type]


def test_hostile_parameter_lines_parse_quickly():
    lines = ["a" * 60000, "a " * 30000, 'ab: "' + "x" * 60000, 'k: "x, ' * 8000, "a-" * 30000]
    t = time.perf_counter()
    for line in lines:
        parse_a1111("prompt\n" + line)
    assert time.perf_counter() - t < 5


def test_scheduler_names_both_ways():
    pairs = {"ddim": "DDIM", "euler": "Euler", "euler_a": "Euler a", "dpmpp_2m": "DPM++ 2M"}
    pairs["lcm"] = "LCM"
    for ours, theirs in pairs.items():
        assert md.a1111_sampler_name(ours) == theirs
        assert md.genstudio_scheduler_name(theirs) == ours
        assert md.genstudio_scheduler_name(ours) == ours
    assert md.genstudio_scheduler_name("euler_ancestral") == "euler_a"  # ComfyUI
    assert md.genstudio_scheduler_name("k_euler_a") == "euler_a"  # InvokeAI 2.x
    assert md.genstudio_scheduler_name("DPM++ SDE") == "DPM++ SDE"  # not ours: unchanged
    assert md.a1111_sampler_name("dpmpp_2m_sde") == "DPM++ 2M SDE"
    assert md.a1111_sampler_name("Restart") == "Restart"


# --- our PNGs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("i", range(len(TRICKY)))
def test_round_trip_both_chunks_and_pixels_untouched(i):
    s = TRICKY[i]
    img = rgba(seed=i)
    src = pillow_png(img)
    record = {"generator": "images.sd", "model": {"id": "sd15", "sha256": "b" * 64}, "parent": None}
    png = png_with_metadata(src, s, record)
    assert read_metadata(png) == s  # lossless record
    assert np.array_equal(pixels(png), img)
    # the pixel chunks are the same bytes
    assert [c for c in chunks(png) if c[0] == b"IDAT"] == [
        c for c in chunks(src) if c[0] == b"IDAT"
    ]
    rec = md.read_genstudio_record(png)
    assert rec["format"] == "genstudio.image-params" and rec["version"] == 1
    assert rec["generator"] == "images.sd" and rec["model"]["sha256"] == "b" * 64
    # the A1111 chunk alone gives the same settings (up to the A1111 format's shorthash)
    only_a1111 = without(png, b"genstudio")
    got = read_metadata(only_a1111)
    assert got == ImageSettings(**{**s.to_dict(), "model_hash": s.model_hash and s.model_hash[:10]})
    assert np.array_equal(pixels(only_a1111), img)


def test_pil_image_and_array_inputs_keep_pixels(tmp_path):
    img = rgba(9, 5, seed=3)
    for src in (Image.fromarray(img), img):
        png = png_with_metadata(src, SETTINGS)
        assert np.array_equal(pixels(png), img)
        assert read_metadata(png) == SETTINGS
    rgb = img[..., :3].copy()
    assert np.array_equal(pixels(png_with_metadata(rgb, SETTINGS)), rgb)
    pal = Image.fromarray(img).convert("RGB").quantize(16)
    png = png_with_metadata(pal, SETTINGS)
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "P" and np.array_equal(np.asarray(im), np.asarray(pal))
    # path and file object
    p = tmp_path / "a.png"
    p.write_bytes(png)
    assert read_metadata(p) == SETTINGS and read_metadata(str(p)) == SETTINGS
    with open(p, "rb") as f:
        assert read_metadata(f) == SETTINGS


def test_chunks_are_what_pillow_add_text_writes_and_sit_before_idat():
    for s in (TRICKY[0], TRICKY[1]):  # Latin-1 (tEXt) and non-Latin-1 (iTXt)
        png = png_with_metadata(pillow_png(rgba()), s)
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", a1111_parameters(s))
        ref = [c for c in chunks(pillow_png(rgba(), info)) if c[0] in md._TEXT_TYPES]
        ours = [c for c in chunks(png) if c[0] in md._TEXT_TYPES]
        assert ours[0] == ref[0]
        assert ours[0][0] == (b"tEXt" if s is TRICKY[0] else b"iTXt")
        assert ours[1][0] == b"iTXt" and keyword(ours[1][1]) == b"genstudio"
        types = [t for t, _ in chunks(png)]
        assert types.index(b"IDAT") > max(i for i, t in enumerate(types) if t in md._TEXT_TYPES)
        with Image.open(io.BytesIO(png)) as im:  # readers that stop before the pixels see them
            assert im.info["parameters"] == a1111_parameters(s)
            assert json.loads(im.info["genstudio"])["settings"] == s.to_dict()


def test_existing_metadata_replaced_other_chunks_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "old\nSteps: 1, Sampler: Euler, CFG scale: 1, Seed: 1")
    info.add_text("Software", "PaintTool")
    info.add_itxt("genstudio", '{"format": "genstudio.image-params", "version": 1}')
    src = pillow_png(rgba(), info)
    png = png_with_metadata(png_with_metadata(src, TRICKY[2]), SETTINGS)
    kws = [keyword(d) for t, d in chunks(png) if t in md._TEXT_TYPES]
    assert sorted(kws) == [b"Software", b"genstudio", b"parameters"]
    assert read_metadata(png) == SETTINGS
    assert md.png_text_chunks(png)["Software"] == "PaintTool"


def test_genstudio_record_layout_and_settings_key_order():
    """The same settings keep writing the same bytes: the record is ``json.dumps`` (default
    separators, not ASCII-escaped) of format, version, the caller's keys in their order and
    settings, whose keys follow ImageSettings' fields."""
    png = png_with_metadata(pillow_png(rgba()), TRICKY[1], {"generator": "g", "parent": None})
    text = md.png_text_chunks(png)["genstudio"]
    rec = json.loads(text)
    assert list(rec) == ["format", "version", "generator", "parent", "settings"]
    assert list(rec["settings"]) == [
        "prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "width", "height",
        "model_name", "model_hash", "denoising_strength", "clip_skip", "extra", "source",
    ]  # fmt: skip
    assert text == json.dumps(rec, ensure_ascii=False)


def test_package_api_and_lazy_imports():
    """Every name of the API comes from the package (one module per format behind it), and
    importing it loads neither Pillow nor numpy (lazy, for a fast start), Qt nor torch."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import genstudio.generators.images.metadata as m\n"
        "missing = [n for n in m.__all__ if not hasattr(m, n)]\n"
        "heavy = sorted({'PIL', 'numpy', 'PySide6', 'torch'} & set(sys.modules))\n"
        "print(missing, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[0] == "[] []"
    assert set(md.__all__) >= {"ImageSettings", "read_metadata", "png_with_metadata"}
    assert md.read_metadata.__module__ == "genstudio.generators.images.metadata.reader"


def test_writer_rejects_bad_input():
    src = pillow_png(rgba())
    bad = [
        (b"not a png", SETTINGS, None),
        (src[:-20], SETTINGS, None),  # truncated
        (src[:40] + bytes([src[40] ^ 1]) + src[41:], SETTINGS, None),  # bad CRC
        (src, ImageSettings(cfg_scale=float("nan")), None),
        (src, ImageSettings(steps="20"), None),  # type: ignore[arg-type]
        (src, ImageSettings(width=10**9, height=5), None),
        (src, ImageSettings(extra={"a": 1}), None),  # type: ignore[dict-item]
        (src, ImageSettings(source="photoshop"), None),
        (src, SETTINGS, {"settings": {}}),
        (src, SETTINGS, {"x": {1, 2}}),
        (src, SETTINGS, {"x": float("inf")}),
        (Image.new("CMYK", (4, 4)), SETTINGS, None),
        (np.zeros((4, 4, 2), np.uint8), SETTINGS, None),
        ("a.png", SETTINGS, None),
    ]
    for image, settings, record in bad:
        with pytest.raises(InvalidParamsError):
            png_with_metadata(image, settings, record)
    with pytest.raises(InvalidParamsError):
        a1111_parameters(ImageSettings(seed=2**70))


# --- the independent parser reads our PNGs -------------------------------------------------------


@pytest.mark.parametrize("i", range(len(TRICKY)))
def test_sd_parsers_reads_our_parameters_chunk(i):
    s = TRICKY[i]
    info = sd(png_with_metadata(pillow_png(rgba()), s))
    assert info.generator.value == "AUTOMATIC1111"
    (sampler,) = info.samplers
    assert info.full_prompt == s.prompt
    assert info.full_negative_prompt == s.negative_prompt
    assert sampler.name == md.a1111_sampler_name(s.sampler)
    assert sampler.parameters["steps"] == str(s.steps)
    assert sampler.parameters["seed"] == str(s.seed)
    if s.cfg_scale is not None:
        assert float(sampler.parameters["cfg_scale"]) == s.cfg_scale
    if s.width:
        assert info.metadata["Size"] == f"{s.width}x{s.height}"
    if s.model_name or s.model_hash:
        assert sampler.model.name == s.model_name
        assert sampler.model.hash == (s.model_hash and s.model_hash[:10])
    if "Schedule type" in s.extra:
        assert sampler.parameters["scheduler"] == s.extra["Schedule type"]


# --- files written by other tools ---------------------------------------------------------------

A1111_TEXT = (
    "masterpiece, best quality, (1girl:1.2), solo, looking at viewer\n"
    "sunset, <lora:add_detail:0.6>\n"
    "Negative prompt: (worst quality, low quality:1.4), lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3072913354, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.52, Clip skip: 2, "
    'Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, Lora hashes: "add_detail: '
    '7c6bad76eb54", Version: v1.10.1'
)


def assert_agrees_with_sd_parsers(ours: ImageSettings, data: bytes, *, karras_in_name=False):
    info = sd(data)
    sampler = info.samplers[0]
    assert ours.prompt.strip() == info.full_prompt
    assert ours.negative_prompt.strip() == info.full_negative_prompt
    assert ours.sampler == md.genstudio_scheduler_name(sampler.name) or karras_in_name
    p = sampler.parameters
    assert str(ours.seed) == str(p["seed"]) and str(ours.steps) == str(p["steps"])
    assert ours.cfg_scale == float(p["cfg_scale"])
    if sampler.model is not None:
        assert ours.model_name == sampler.model.name
        assert ours.model_hash == sampler.model.hash
    return info


def test_a1111_png_read_back_and_agrees_with_sd_parsers():
    data = with_text(rgba(), parameters=A1111_TEXT)
    s = read_metadata(data)
    assert s == ImageSettings(
        prompt="masterpiece, best quality, (1girl:1.2), solo, looking at viewer\n"
        "sunset, <lora:add_detail:0.6>",
        negative_prompt="(worst quality, low quality:1.4), lowres",
        steps=28,
        sampler="dpmpp_2m",
        cfg_scale=6.5,
        seed=3072913354,
        width=512,
        height=768,
        model_name="v1-5-pruned-emaonly",
        model_hash="6ce0161689",
        denoising_strength=0.52,
        clip_skip=2,
        extra={
            "Schedule type": "Karras",
            "VAE hash": "735e4c3a44",
            "VAE": "vae-ft-mse-840000-ema-pruned.safetensors",
            "Hires upscale": "2",
            "Hires steps": "15",
            "Hires upscaler": "Latent",
            "Lora hashes": "add_detail: 7c6bad76eb54",
            "Version": "v1.10.1",
        },
        source="a1111",
    )
    cross_checks = [(s, data, False)]
    # reusing the settings writes the same A1111 line back
    assert a1111_parameters(s) == A1111_TEXT
    # an old combined name, no negative prompt, a unicode prompt (iTXt)
    old = "東京の夜景, neon\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512"
    data = with_text(rgba(), parameters=old)
    s = read_metadata(data)
    assert (s.prompt, s.negative_prompt, s.sampler, s.width) == (
        "東京の夜景, neon",
        "",
        "euler_a",
        512,
    )
    cross_checks.append((s, data, False))
    data = with_text(rgba(), parameters=old.replace("Euler a", "DPM++ 2M Karras"))
    s = read_metadata(data)
    assert s.sampler == "dpmpp_2m" and s.extra["Schedule type"] == "Karras"
    cross_checks.append((s, data, True))
    # the independent reader agrees
    for s, data, karras_in_name in cross_checks:
        info = assert_agrees_with_sd_parsers(s, data, karras_in_name=karras_in_name)
        assert info.metadata["Size"] == f"{s.width}x{s.height}"
    info = sd(cross_checks[0][1])
    assert info.samplers[0].parameters["scheduler"] == "Karras"


COMFY_PROMPT = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "inputs": {
            "text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
            "clip": ["4", 1],
        },
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "7": {
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "8": {
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "class_type": "VAEDecode",
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
}

_LINK_TYPES = {
    "model": "MODEL",
    "clip": "CLIP",
    "vae": "VAE",
    "positive": "CONDITIONING",
    "negative": "CONDITIONING",
    "conditioning": "CONDITIONING",
    "latent_image": "LATENT",
    "samples": "LATENT",
    "images": "IMAGE",
}


def comfy_workflow(prompt: dict) -> dict:
    """The UI graph ComfyUI saves beside the API graph: nodes and typed links
    ``[link_id, origin_id, origin_slot, target_id, target_slot, type]``."""
    nodes, links = [], []
    for nid, node in prompt.items():
        inputs, widgets = [], []
        for name, v in node["inputs"].items():
            if isinstance(v, list):
                links.append([len(links) + 1, int(v[0]), v[1], int(nid), len(inputs), None])
                links[-1][5] = _LINK_TYPES.get(name, name.upper())
                inputs.append({"name": name, "type": links[-1][5], "link": len(links)})
            else:
                widgets.append(v)
        nodes.append(
            {
                "id": int(nid),
                "type": node["class_type"],
                "pos": [0, 0],
                "size": [300, 100],
                "flags": {},
                "order": len(nodes),
                "mode": 0,
                "inputs": inputs,
                "outputs": [],
                "properties": {"Node name for S&R": node["class_type"]},
                "widgets_values": widgets,
            }
        )
    return {
        "last_node_id": max(int(n) for n in prompt),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }


def comfy_png(prompt: dict) -> bytes:
    return with_text(rgba(), prompt=json.dumps(prompt), workflow=json.dumps(comfy_workflow(prompt)))


def test_comfyui_default_graph_read_back_and_agrees_with_sd_parsers():
    wf = comfy_workflow(COMFY_PROMPT)
    # the default graph's links as ComfyUI's UI saves them, up to the link ids (any numbers)
    default_links = [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 5, 0, 3, 3, "LATENT"],
        [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 4, 1, 7, 0, "CLIP"],
        [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ]
    assert sorted(link[1:] for link in wf["links"]) == sorted(link[1:] for link in default_links)
    data = comfy_png(COMFY_PROMPT)
    s = read_metadata(data)
    assert s == ImageSettings(
        prompt="beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
        negative_prompt="text, watermark",
        steps=20,
        sampler="euler",
        cfg_scale=8.0,
        seed=156680208700286,
        width=512,
        height=512,
        model_name="v1-5-pruned-emaonly.safetensors",
        extra={"Schedule type": "Normal"},
        source="comfyui",
    )
    info = sd(data)
    assert info.generator.value == "ComfyUI"
    (sampler,) = info.samplers
    assert [p.value for p in sampler.prompts] == [s.prompt.strip()]
    assert [p.value for p in sampler.negative_prompts] == [s.negative_prompt]
    assert sampler.name == "euler" and sampler.model.name == s.model_name
    p = sampler.parameters
    assert (p["seed"], p["steps"], p["cfg_scale"]) == (s.seed, s.steps, s.cfg_scale)
    assert p["scheduler"] == "normal"


def test_comfyui_two_pass_lora_clip_skip_graph():
    g = json.loads(json.dumps(COMFY_PROMPT))
    g["3"]["class_type"] = "KSamplerAdvanced"
    ins = g["3"]["inputs"]
    ins["noise_seed"] = ins.pop("seed")
    del ins["denoise"]
    ins.update(add_noise="enable", start_at_step=0, end_at_step=10000)
    ins.update(return_with_leftover_noise="disable", sampler_name="euler_ancestral")
    ins["model"] = ["10", 0]
    g["10"] = {
        "inputs": {
            "lora_name": "detail.safetensors",
            "strength_model": 0.8,
            "strength_clip": 1,
            "model": ["4", 0],
            "clip": ["11", 0],
        },
        "class_type": "LoraLoader",
    }
    g["11"] = {
        "inputs": {"stop_at_clip_layer": -2, "clip": ["4", 1]},
        "class_type": "CLIPSetLastLayer",
    }
    g["6"]["inputs"]["clip"] = ["10", 1]
    g["7"]["inputs"]["clip"] = ["10", 1]
    g["12"] = {"inputs": {"string": "a red fox\nin snow"}, "class_type": "PrimitiveString"}
    g["6"]["inputs"]["text"] = ["12", 0]
    # hires pass: a second sampler on an upscaled latent, lower node id
    g["1"] = {
        "inputs": {
            "seed": 1,
            "steps": 10,
            "cfg": 5,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "denoise": 0.5,
            "model": ["10", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["2", 0],
        },
        "class_type": "KSampler",
    }
    g["2"] = {
        "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact", "scale_by": 2},
        "class_type": "LatentUpscaleBy",
    }
    g["8"]["inputs"]["samples"] = ["1", 0]
    s = read_metadata(comfy_png(g))
    assert (s.prompt, s.negative_prompt) == ("a red fox\nin snow", "text, watermark")
    assert (s.seed, s.steps, s.cfg_scale, s.sampler) == (156680208700286, 20, 8.0, "euler_a")
    assert (s.width, s.height, s.clip_skip, s.denoising_strength) == (512, 512, 2, None)
    assert s.model_name == "v1-5-pruned-emaonly.safetensors"
    assert "Sampler: Euler a, Schedule type: Normal" in a1111_parameters(s)
    # only the hires sampler: size unknown, denoise kept
    del g["3"]
    g["1"]["inputs"]["latent_image"] = ["5", 0]
    g["5"]["class_type"] = "VAEEncode"
    g["5"]["inputs"] = {"pixels": ["13", 0], "vae": ["4", 2]}
    s = read_metadata(comfy_png(g))
    assert (s.seed, s.sampler, s.denoising_strength, s.width) == (1, "dpmpp_2m", 0.5, None)
    assert s.extra["Schedule type"] == "Karras"


INVOKE3 = {
    "generation_mode": "txt2img",
    "positive_prompt": "a fantasy castle on a hill, golden hour",
    "negative_prompt": "blurry, lowres",
    "width": 768,
    "height": 512,
    "seed": 2871652047,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "steps": 30,
    "scheduler": "euler_a",
    "clip_skip": 0,
    "model": {"model_name": "stable-diffusion-v1-5", "base_model": "sd-1", "model_type": "main"},
    "controlnets": [],
    "ipAdapters": [],
    "t2iAdapters": [],
    "loras": [],
    "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"},
    "positive_style_prompt": "",
    "negative_style_prompt": "",
    "app_version": "3.6.2",
}


def test_invokeai_read_back_and_agrees_with_sd_parsers():
    data = with_text(rgba(), invokeai_metadata=json.dumps(INVOKE3), invokeai_graph="{}")
    s = read_metadata(data)
    assert s == ImageSettings(
        prompt=INVOKE3["positive_prompt"],
        negative_prompt="blurry, lowres",
        steps=30,
        sampler="euler_a",
        cfg_scale=7.5,
        seed=2871652047,
        width=768,
        height=512,
        model_name="stable-diffusion-v1-5",
        source="invokeai",
    )
    first = (s, data)
    # InvokeAI 4+: model {"name", "hash"}, Karras schedulers, clip skip, img2img strength
    meta4 = {**INVOKE3, "scheduler": "dpmpp_2m_k", "clip_skip": 1, "generation_mode": "img2img"}
    meta4["strength"] = 0.6
    meta4["model"] = {
        "key": "k1",
        "hash": "blake3:abcd",
        "name": "Juggernaut XL",
        "base": "sdxl",
        "type": "main",
    }
    s = read_metadata(with_text(rgba(), invokeai_metadata=json.dumps(meta4)))
    assert (s.sampler, s.extra, s.clip_skip, s.denoising_strength) == (
        "dpmpp_2m",
        {"Schedule type": "Karras"},
        2,
        0.6,
    )
    assert (s.model_name, s.model_hash) == ("Juggernaut XL", "blake3:abcd")
    # the independent reader agrees (it reads InvokeAI 3.x's model shape)
    s, data = first
    info = assert_agrees_with_sd_parsers(s, data)
    assert info.generator.value == "InvokeAI"
    assert (info.metadata["width"], info.metadata["height"]) == (s.width, s.height)


def test_invokeai_2_sd_metadata_and_dream_agree_with_sd_parsers():
    sd_meta = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.2.5",
        "image": {
            "prompt": [{"prompt": "a cat on a mat [ugly, blurry]", "weight": 1.0}],
            "steps": 50,
            "cfg_scale": 7.5,
            "threshold": 0,
            "perlin": 0,
            "height": 512,
            "width": 512,
            "seed": 3357757885,
            "seamless": False,
            "hires_fix": False,
            "type": "txt2img",
            "postprocessing": None,
            "sampler": "k_euler_a",
            "variations": [],
        },
    }
    dream = '"a cat on a mat [ugly, blurry]" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 -A k_lms'
    data = with_text(rgba(), sd_dash_metadata=json.dumps(sd_meta), Dream=dream)
    s = read_metadata(data)
    assert s == ImageSettings(
        prompt="a cat on a mat",
        negative_prompt="ugly, blurry",
        steps=50,
        sampler="euler_a",
        cfg_scale=7.5,
        seed=3357757885,
        width=512,
        height=512,
        model_name="stable-diffusion-1.5",
        model_hash=sd_meta["model_hash"],
        source="invokeai",
    )
    cross_checks = [(s, data)]
    data = with_text(rgba(), Dream=dream)
    s = read_metadata(data)
    assert (s.prompt, s.negative_prompt, s.sampler, s.width, s.seed) == (
        "a cat on a mat",
        "ugly, blurry",
        "k_lms",
        512,
        3357757885,
    )
    cross_checks.append((s, data))
    for s, data in cross_checks:
        assert_agrees_with_sd_parsers(s, data)
    assert sd(cross_checks[0][1]).samplers[0].name == "k_euler_a"


def exif_user_comment(text: str) -> Image.Exif:
    """What piexif.helper.UserComment.dump(text, encoding="unicode") puts in the Exif IFD."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf_16_be")
    return exif


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_with_a1111_user_comment(fmt):
    buf = io.BytesIO()
    Image.fromarray(rgba()[..., :3].copy()).save(buf, fmt, exif=exif_user_comment(A1111_TEXT))
    data = buf.getvalue()
    s = read_metadata(data)
    assert s == read_metadata(with_text(rgba(), parameters=A1111_TEXT))
    # a camera's comment is not a prompt
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, fmt, exif=exif_user_comment("Holiday 2019"))
    assert read_metadata(buf.getvalue()) is None
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, fmt)
    assert read_metadata(buf.getvalue()) is None
    assert_agrees_with_sd_parsers(s, data)


# --- bad input -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_png() -> bytes:
    return png_with_metadata(pillow_png(rgba(16, 16)), SETTINGS, {"generator": "images.sd"})


def test_random_bytes_empty_and_other_formats_give_none():
    rng = random.Random(1)
    for n in (0, 1, 7, 8, 100, 5000):
        assert read_metadata(bytes(rng.getrandbits(8) for _ in range(n))) is None
    assert read_metadata(b"\x89PNG\r\n\x1a\n") is None
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "GIF")
    assert read_metadata(buf.getvalue()) is None
    assert read_metadata(pillow_png(rgba())) is None  # a PNG without metadata


def test_truncated_png(good_png):
    idat = good_png.index(b"IDAT") - 4
    for cut in range(0, len(good_png), 7):
        got = read_metadata(good_png[:cut])
        if cut >= idat:  # both metadata chunks are complete
            assert got == SETTINGS
        else:
            assert got is None or got.prompt == SETTINGS.prompt  # A1111 chunk complete only


def test_mutated_pngs_never_crash(good_png):
    rng = random.Random(7)
    for _ in range(300):
        b = bytearray(good_png)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        got = read_metadata(bytes(b))
        assert got is None or isinstance(got, ImageSettings)


def test_garbage_chunks(good_png):
    a1111_only = read_metadata(without(good_png, b"genstudio"))
    parts = chunks(good_png)
    gs = next(d for t, d in parts if keyword(d) == b"genstudio")
    ps = next(d for t, d in parts if keyword(d) == b"parameters")
    plain = without(without(good_png, b"genstudio"), b"parameters")

    def png_with(*raw: bytes) -> bytes:
        out = plain
        for r in raw:
            out = insert_before_idat(out, r)
        return out

    # a bad CRC: the chunk is ignored
    assert read_metadata(png_with(chunk(b"tEXt", ps, crc=1))) is None
    assert read_metadata(png_with(chunk(b"iTXt", gs, crc=1), chunk(b"tEXt", ps))) == a1111_only
    # corrupt, foreign, future or ill-typed GenStudio records fall back to the A1111 chunk
    for rec in (
        "{not json",
        "[1, 2]",
        '{"format": "other", "version": 1, "settings": {}}',
        '{"format": "genstudio.image-params", "version": 2, "settings": {}}',
        '{"format": "genstudio.image-params", "version": 1, "settings": {"steps": "20"}}',
        '{"format": "genstudio.image-params", "version": 1, "settings": {"width": 1e9}}',
        '{"format": "genstudio.image-params", "version": 1}',
        '{"format": "genstudio.image-params", "version": 1, "settings": {"cfg_scale": 1'
        + "0" * 400
        + "}}",
        "[" * 100000,
    ):
        raw = md._itxt_chunk("genstudio", rec)
        assert read_metadata(png_with(raw, chunk(b"tEXt", ps))) == a1111_only, rec[:60]
    # control characters: not A1111 text
    assert read_metadata(png_with(md._text_chunk("parameters", "a\x00b\x01c"))) is None
    # unknown and invalid chunks, an absurd length after the metadata
    junk = chunk(b"zzZz", os.urandom(100)) + chunk(b"tEXt", b"Comment\0" + os.urandom(50))
    assert read_metadata(png_with(junk, chunk(b"tEXt", ps))) == a1111_only
    assert read_metadata(png_with(chunk(b"tEXt", ps), b"\xff\xff\xff\xffIDAT")) == a1111_only
    assert read_metadata(png_with(b"\x00\x00\x00\x05\x01\x02\x03\x04", chunk(b"tEXt", ps))) is None
    # other tools' JSON, corrupt or hostile
    bad_json = ["{", "[]", '{"1": {"class_type": "KSampler", "inputs": []}}', "[" * 100000, "null"]
    for text in bad_json:
        for kw in ("prompt", "invokeai_metadata", "sd-metadata"):
            assert read_metadata(png_with(md._text_chunk(kw, text))) is None, (kw, text[:20])
    cyclic = {
        "1": {
            "class_type": "KSampler",
            "inputs": {
                "positive": ["2", 0],
                "negative": ["2", 0],
                "model": ["2", 0],
                "latent_image": ["2", 0],
                "seed": ["2", 0],
                "steps": 1,
            },
        },
        "2": {
            "class_type": "X",
            "inputs": {
                "conditioning": ["2", 0],
                "model": ["1", 0],
                "samples": ["2", 0],
                "value": ["2", 0],
                "text": ["1", 0],
            },
        },
    }
    s = read_metadata(png_with(md._text_chunk("prompt", json.dumps(cyclic))))
    assert s == ImageSettings(steps=1, source="comfyui")


def test_huge_chunks_and_absurd_sizes(good_png):
    plain = without(without(good_png, b"genstudio"), b"parameters")
    ps = a1111_parameters(SETTINGS)
    ten_mb = "word, " * (10 * 1024 * 1024 // 6)
    # a 10 MB text chunk is over the limit: skipped
    t = time.perf_counter()
    assert read_metadata(insert_before_idat(plain, md._text_chunk("parameters", ten_mb))) is None
    junk = insert_before_idat(plain, md._text_chunk("Comment", ten_mb))
    got = read_metadata(insert_before_idat(junk, md._text_chunk("parameters", ps)))
    assert got == parse_a1111(ps)
    # a compressed bomb: 20 MB of text in a small zTXt / compressed iTXt
    bomb = zlib.compress(b"a" * (20 * 1024 * 1024), 9)
    for raw in (
        chunk(b"zTXt", b"parameters\0\0" + bomb),
        chunk(b"iTXt", b"parameters\0\x01\0\0\0" + bomb),
    ):
        assert read_metadata(insert_before_idat(plain, raw)) is None
    ok = chunk(b"zTXt", b"parameters\0\0" + zlib.compress(ps.encode("latin-1")))
    assert read_metadata(insert_before_idat(plain, ok)) == parse_a1111(ps)
    assert time.perf_counter() - t < 20
    # absurd sizes in the metadata
    s = read_metadata(with_text(rgba(), parameters="p\nSteps: 20, Seed: 1, Size: 99999x99999"))
    assert (s.width, s.height, s.extra) == (None, None, {"Size": "99999x99999"})
    assert "Size: 99999x99999" in a1111_parameters(s)  # kept verbatim for the A1111 line
    g = json.loads(json.dumps(COMFY_PROMPT))
    g["5"]["inputs"]["width"] = 10**12
    g["3"]["inputs"]["steps"] = -5
    g["3"]["inputs"]["cfg"] = 10**400
    s = read_metadata(comfy_png(g))
    assert (s.width, s.height, s.steps, s.cfg_scale) == (None, None, None, None)
    assert s.seed == 156680208700286
    meta = {**INVOKE3, "width": 10**9, "seed": 2**80, "cfg_scale": "NaN", "steps": True}
    s = read_metadata(with_text(rgba(), invokeai_metadata=json.dumps(meta)))
    assert (s.width, s.seed, s.cfg_scale, s.steps, s.height) == (None, None, None, None, 512)
    # an IHDR claiming 2^31-1 x 2^31-1 pixels: the pixels are never decoded
    parts = chunks(good_png)
    parts[0] = (b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 6, 0, 0, 0))
    assert read_metadata(build(parts)) == SETTINGS


def test_unreadable_paths_and_wrong_types(tmp_path):
    with pytest.raises(ImageMetadataError):
        read_metadata(tmp_path / "missing.png")
    with pytest.raises(ImageMetadataError):
        read_metadata(tmp_path)
    with pytest.raises(TypeError):
        read_metadata(12)  # type: ignore[arg-type]
    with pytest.raises(ImageMetadataError):
        md.png_text_chunks(tmp_path / "missing.png")
    assert md.read_genstudio_record(b"junk") is None
