"""Contact sheets and the model card of the shipped SpriteNet pack (regenerate on every change).

    genstudio ml report sprites --model resources/models/sprites-spritenet \
        --eval docs/models/sprites-spritenet-eval.json --docs docs
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_text

CONTACT_SEEDS = range(1000, 1064)  # fixed: the same 64 characters every time


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def contact_sheets(pack_dir: Path, docs: Path) -> list[Path]:
    from genstudio.generators.sprites import export, model_gen, procedural

    attrs = [
        procedural.sample_attributes(procedural.make_rng(s)) for s in CONTACT_SEEDS
    ]  # what a user gets with "any" everywhere and these seeds
    gen = model_gen.generate_sheets(attrs, list(CONTACT_SEEDS), pack_dir=pack_dir)
    docs.mkdir(parents=True, exist_ok=True)
    out1 = docs / "sprites-spritenet-contact-sheet.png"
    atomic_write_bytes(out1, _png(export.contact_sheet(list(gen))))
    # side by side: model (left) and the procedural renderer (right) for the same attributes
    pairs = []
    for a, s, g in list(zip(attrs, CONTACT_SEEDS, gen))[:16]:
        pairs += [g, procedural.render_sheet(a, s)]
    out2 = docs / "sprites-spritenet-vs-procedural.png"
    atomic_write_bytes(out2, _png(export.contact_sheet(pairs, columns=4)))
    return [out1, out2]


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def model_card(pack_dir: Path, eval_result: dict[str, Any] | None) -> str:
    raw = json.loads((pack_dir / "model.json").read_text(encoding="utf-8"))
    tr = raw.get("training", {})
    size_mb = sum(f.stat().st_size for f in pack_dir.iterdir() if f.is_file()) / 1e6
    lines = [
        f"# Model card: {raw['id']} (version {raw['version']})",
        "",
        "Text/attributes -> a full character sheet (4 directions x 2 idle + 4 walk frames, "
        "32x32 px), rendered by ONNX Runtime only. Architecture: SpriteNet "
        "(`genstudio/ml/sprites/model.py`): attribute embeddings + latent -> one character "
        "code (designer) -> FiLM-conditioned conv decoder per pose (animator) -> per-pixel "
        "logits over material codes (material x shade; argmax inside the ONNX graph), coloured "
        "by the palette ramps the attributes select (`procedural.color_lut`). Conditional VAE "
        "encoder for the latent.",
        "",
        "## Data and license",
        "",
        f"- License: {raw.get('license')}. {raw.get('attribution')}",
        f"- Data: {tr.get('data')}. No outside art; the procedural templates and palettes are "
        "the project's own (MIT).",
        "- Splits by character (seed streams that never overlap, `genstudio/ml/sprites/data.py`):"
        " train from seed 0, judge from 50,000,000, held-out evaluation from 100,000,000.",
        "",
        "## Training",
        "",
        f"- Script: `{tr.get('script')}`; steps: {tr.get('steps')}; characters seen: "
        f"{tr.get('characters_seen')}; wall time: {_fmt((tr.get('wall_s') or 0) / 60)} min.",
        f"- Hardware: {tr.get('hardware', 'see notes')}.",
        f"- Config: `{json.dumps(tr.get('train_config'))}`",
        f"- Network: `{json.dumps(tr.get('net_config'))}`",
        f"- Pack size: {size_mb:.1f} MB (sprites.onnx + weights.safetensors for fine-tuning).",
    ]
    for note in tr.get("notes", []):
        lines.append(f"- Note: {note}")
    if eval_result:
        e = eval_result
        a, i, d = e["attribute_adherence"], e["identity_consistency"], e["diversity"]
        nn, fd, px = e["nearest_train_distance"], e["frechet_distance"], e["pixel_rules"]
        lines += [
            "",
            f"## Evaluation (`genstudio eval sprites`, {e['n_generated']} generated sheets vs "
            f"{e['n_real_heldout']} held-out real sheets)",
            "",
            "| metric | generated | real (ceiling / floor) | ratio | target |",
            "|---|---|---|---|---|",
            f"| attribute adherence (visible attributes) | {_fmt(a['generated'])} | "
            f"{_fmt(a['real_ceiling'])} | {_fmt(a['ratio'])} | >= {a['target_ratio']} |",
            f"| identity consistency (cross-pose retrieval) | {_fmt(i['generated'])} | "
            f"{_fmt(i['real_ceiling'])} | {_fmt(i['ratio'])} | >= {i['target_ratio']} |",
            f"| diversity (mean pairwise feature distance) | {_fmt(d['generated'])} | "
            f"{_fmt(d['real'])} | {_fmt(d['ratio'])} | >= {d['target_ratio']} |",
            f"| Frechet distance (judge features) | {_fmt(fd['generated_vs_real'])} | "
            f"floor {_fmt(fd['real_vs_real_floor'])} | | reported |",
            f"| nearest-training-neighbour distance | {_fmt(nn['generated'])} | "
            f"{_fmt(nn['real_heldout'])} | | reported (no copying) |",
            f"| frames with binary alpha | {_fmt(px['binary_alpha'])} | | | 1.0 |",
            f"| frames within the palette limit ({px['max_colors']}) | "
            f"{_fmt(px['within_palette'])} | | | 1.0 |",
            "",
            "Per attribute (generated / real):",
            "",
        ]
        for k, v in a["per_attribute"].items():
            lines.append(f"- {k}: {_fmt(v['generated'])} / {_fmt(v['real'])}")
        lines += [
            "",
            "The judge is our own attribute classifier + feature extractor "
            "(`genstudio/ml/sprites/judge.py`), trained only on the judge split of real "
            "procedural sheets; no Inception weights exist offline.",
        ]
    lines += [
        "",
        "Contact sheets: `docs/sprites-spritenet-contact-sheet.png` (64 characters, seeds "
        "1000-1063, all directions and frames) and `docs/sprites-spritenet-vs-procedural.png` "
        "(model | procedural renderer, same attributes).",
        "",
    ]
    return "\n".join(lines)


def write_report(pack_dir: Path, eval_path: Path | None, docs: Path) -> list[Path]:
    written = contact_sheets(pack_dir, docs)
    ev = json.loads(eval_path.read_text(encoding="utf-8")) if eval_path else None
    card = docs / "models" / "sprites-spritenet.md"
    card.parent.mkdir(parents=True, exist_ok=True)
    text = model_card(pack_dir, ev)
    atomic_write_text(card, text)
    atomic_write_text(pack_dir / "README.md", text)
    return [*written, card]
