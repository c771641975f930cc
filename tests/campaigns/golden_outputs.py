"""Fixed-seed outputs of every generator, hashed: run before and after a refactor, compare.

    python -m tests.campaigns.golden_outputs OUT.json [--compare BEFORE.json]

Each case runs a generator in-process with a fixed params dict (the same dicts before and after),
and records the SHA-256 of every output's bytes and of its decoded content (pixels for PNG, the
notes for MIDI), so a change that only touches metadata is told apart from one that changes what
the user sees or hears. Cases cover sprites (procedural, several prompts/locks/sizes/palettes;
SpriteNet), images (built-in model: txt2img, img2img, inpainting, pixel art, upscale; a tiny
random-weight SD folder: every scheduler, img2img, inpainting) and music (every style and mode).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _content_hash(ext: str, data: bytes) -> str:
    if ext == "png":
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            a = np.asarray(im.convert("RGBA"))
        return hashlib.sha256(a.tobytes() + str(a.shape).encode()).hexdigest()
    if ext == "mid":
        import mido

        mf = mido.MidiFile(file=io.BytesIO(data))
        msgs = [str(m) for t in mf.tracks for m in t if not m.is_meta or m.type != "track_name"]
        return hashlib.sha256("\n".join(msgs).encode()).hexdigest()
    return hashlib.sha256(data).hexdigest()


def run_case(generator: str, params: dict[str, Any]) -> list[dict[str, str]]:
    from genstudio import generators
    from genstudio.generators.base import Output, RunContext

    gen = generators.get(generator)
    outs: list[dict[str, str]] = []

    def emit(o: Output) -> str:
        outs.append(
            {
                "ext": o.ext,
                "bytes": hashlib.sha256(o.data).hexdigest(),
                "content": _content_hash(o.ext, o.data),
            }
        )
        return ""

    gen.run(gen.Params.from_dict(params), RunContext(emit=emit))
    return outs


def _inputs(tmp: Path) -> dict[str, str]:
    from PIL import Image

    rng = np.random.default_rng(7)
    init = tmp / "init.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(init)
    mask = tmp / "mask.png"
    m = np.zeros((64, 64), np.uint8)
    m[16:48, 16:48] = 255
    Image.fromarray(m).save(mask)
    gpl = tmp / "pal.gpl"
    gpl.write_text("GIMP Palette\nName: t\n#\n0 0 0 a\n255 0 0 b\n0 255 0 c\n0 0 255 d\n255 255 255 e\n")
    return {"init": str(init), "mask": str(mask), "gpl": str(gpl)}


def cases(tmp: Path, with_sd: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    f = _inputs(tmp)
    c: dict[str, tuple[str, dict[str, Any]]] = {}
    sp = "sprites.procedural"
    c["sprite_plain"] = (sp, {"seed": 3, "count": 2})
    c["sprite_prompt"] = (sp, {"prompt": "stocky knight, red hair, sword", "seed": 11, "count": 2})
    c["sprite_attrs"] = (sp, {"attrs": {"hair_color": "blue", "body": "slim"}, "seed": 5})
    c["sprite_size64"] = (sp, {"prompt": "wizard", "seed": 2, "size": 64})
    c["sprite_size16"] = (sp, {"prompt": "wizard", "seed": 2, "size": 16})
    c["sprite_colors"] = (sp, {"seed": 9, "palette_colors": 6, "outline_color": "#203040"})
    c["sprite_palette"] = (sp, {"seed": 9, "palette_file": f["gpl"], "remove_strays": False})
    c["sprite_nooutline"] = (sp, {"seed": 4, "outline": False})
    c["spritenet"] = ("sprites.spritenet", {"prompt": "mage with a staff", "seed": 1, "count": 2})
    im = "images.diffusion"
    c["image_txt2img"] = (im, {"prompt": "red apple", "seed": 3, "count": 2, "steps": 8})
    for s in ("ddim", "euler", "euler_a", "lcm"):
        c[f"image_{s}"] = (im, {"prompt": "green potion bottle", "seed": 1, "steps": 6, "scheduler": s})
    c["image_img2img"] = (im, {"prompt": "blue gem", "seed": 2, "steps": 8, "init": f["init"]})
    c["image_inpaint"] = (
        im,
        {"prompt": "gold coin", "seed": 2, "steps": 8, "init": f["init"], "mask": f["mask"]},
    )
    c["image_pixel"] = (
        im,
        {"prompt": "heart", "seed": 5, "steps": 8, "pixel_art": True, "grid": 16, "colors": 8,
         "outline": True, "upscale": 2},
    )  # fmt: skip
    c["image_palette"] = (
        im, {"prompt": "cat", "seed": 6, "steps": 8, "pixel_art": True, "palette": f["gpl"]}
    )  # fmt: skip
    c["image_guidance"] = (im, {"prompt": "car", "seed": 8, "steps": 8, "guidance": 2.0})
    if with_sd:
        from genstudio.ml.images.tiny_sd import build_tiny_sd

        for kind in ("sd1", "inpaint", "lcm"):
            t = build_tiny_sd(tmp / kind, kind=kind)
            d = str(t.onnx_dir)
            base = {"prompt": "a red dragon castle", "negative": "fog", "model": d, "width": 64,
                    "height": 64, "seed": 4}  # fmt: skip
            if kind == "lcm":
                c["sd_lcm"] = (im, dict(base, steps=4, guidance=1.0, scheduler="lcm"))
                continue
            if kind == "inpaint":
                c["sd_inpaint"] = (
                    im, dict(base, steps=5, init=f["init"], mask=f["mask"], strength=0.9)
                )  # fmt: skip
                continue
            for s in ("ddim", "euler", "euler_a", "dpmpp_2m"):
                c[f"sd_{s}"] = (im, dict(base, steps=5, scheduler=s))
            c["sd_img2img"] = (im, dict(base, steps=6, init=f["init"], strength=0.6))
            c["sd_nocfg"] = (im, dict(base, steps=3, guidance=1.0))
    mu = "music.gpt"
    for style in ("folk", "chorale", "melody_accomp"):
        c[f"music_{style}"] = (mu, {"style": style, "bars": 4, "seed": 3, "audio": False})
    c["music_minor_waltz"] = (
        mu, {"style": "folk", "key": "A minor", "time_signature": "3/4", "bars": 4, "seed": 8,
             "audio": False, "temperature": 0.8, "top_k": 20, "top_p": 0.9},
    )  # fmt: skip
    c["music_loop"] = (mu, {"mode": "loop", "style": "folk", "bars": 4, "seed": 2, "audio": False})
    c["music_wav"] = (mu, {"style": "folk", "bars": 2, "seed": 1, "audio": True, "soundfont": "none"})
    clip = tmp / "clip.mid"
    _, first = run_case_bytes(mu, {"style": "folk", "bars": 4, "seed": 5, "audio": False})
    clip.write_bytes(first)
    clip2 = tmp / "clip2.mid"
    _, second = run_case_bytes(mu, {"style": "folk", "bars": 4, "seed": 6, "audio": False})
    clip2.write_bytes(second)
    for mode in ("continue", "variations", "drums"):
        c[f"music_{mode}"] = (
            mu, {"mode": mode, "style": "folk", "bars": 4, "seed": 1, "audio": False,
                 "inputs": [str(clip)]},
        )  # fmt: skip
    c["music_interpolate"] = (
        mu, {"mode": "interpolate", "style": "folk", "bars": 4, "seed": 1, "audio": False,
             "inputs": [str(clip), str(clip2)]},
    )  # fmt: skip
    return c


def run_case_bytes(generator: str, params: dict[str, Any]) -> tuple[str, bytes]:
    from genstudio import generators
    from genstudio.generators.base import Output, RunContext

    gen = generators.get(generator)
    got: list[Output] = []
    gen.run(gen.Params.from_dict(params), RunContext(emit=lambda o: got.append(o) or ""))
    return got[0].ext, got[0].data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path)
    ap.add_argument("--no-sd", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated case-name prefixes")
    a = ap.parse_args(argv)
    result: dict[str, Any] = {}
    # one fixed folder, so the input paths recorded in the outputs' metadata match between runs
    # and a byte difference means a real one
    t = Path(tempfile.gettempdir()) / "genstudio-golden-inputs"
    shutil.rmtree(t, ignore_errors=True)
    t.mkdir()
    try:
        all_cases = cases(t, not a.no_sd)
        for name, (gen, params) in all_cases.items():
            if a.only and not any(name.startswith(p) for p in a.only.split(",")):
                continue
            result[name] = run_case(gen, params)
            print(name, len(result[name]), file=sys.stderr)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    a.out.write_text(json.dumps(result, indent=1, sort_keys=True))
    if a.compare:
        before = json.loads(a.compare.read_text())
        bad = []
        for name, outs in result.items():
            old = before.get(name)
            if old is None:
                print(f"{name}: not in the earlier run")
                continue
            same_c = [o["content"] for o in outs] == [o["content"] for o in old]
            same_b = [o["bytes"] for o in outs] == [o["bytes"] for o in old]
            print(f"{name}: content {'same' if same_c else 'DIFFERENT'}, "
                  f"bytes {'same' if same_b else 'different'}")  # fmt: skip
            if not same_c:
                bad.append(name)
        print(f"{len(result) - len(bad)}/{len(result)} cases identical in content")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
