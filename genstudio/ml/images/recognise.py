"""The recognisability check of the built-in image model (issue 16): a fixed list of 60 prompts
(``data/recognisability-prompts.txt``: 30 emoji-domain, 30 game assets), 4 seeds each, drawn on
one labelled contact sheet that a person looks at and counts, and scored by two machine judges:

* the **prompt judge** (``train.py`` ``what="clip"``): an image encoder trained contrastively
  against the MiniLM captions of the *training* icons. An image counts as recognised when its
  own prompt is the judge's first choice among the 60 prompts (decided before any count);
* the **distribution** in the prompt judge's image features: Frechet distance of the 240 images
  to the held-out real icons beside the real-vs-real floor (as many training icons), and the
  mean distance to the nearest training icon beside the held-out icons' own (copying shows as
  a generated number far below the real one);
* **edge sharpness**: the mean alpha-gradient magnitude at the icons' edges (pixels where the
  gradient exceeds 0.05), generated vs held-out real icons (blur lowers it).

    python -m genstudio.ml.images.recognise --data DIR --clip RUN [--pack DIR]
        [--sheet docs/images-icons-60-prompts.png] [--json OUT]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

PROMPTS_FILE = Path(__file__).with_name("data") / "recognisability-prompts.txt"
SEEDS = (0, 1, 2, 3)


def load_prompts(path: Path = PROMPTS_FILE) -> list[tuple[str, str]]:
    """(domain, prompt) for every prompt of the list, in order."""
    out, domain = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            domain = line[1:-1]
            continue
        out.append((domain, line))
    return out


def edge_sharpness(rgba: np.ndarray) -> float:
    """Mean alpha-gradient magnitude (per pixel, alpha in [0, 1]) at the edges of (N, H, W, 4)
    icons: where the gradient is above 0.05. A crisp 1-pixel edge scores near 1, blur lower."""
    a = rgba[..., 3].astype(np.float32) / 255.0
    gx = np.abs(np.diff(a, axis=2))[:, :-1, :]
    gy = np.abs(np.diff(a, axis=1))[:, :, :-1]
    g = np.sqrt(gx**2 + gy**2)
    edge = g > 0.05
    return float(g[edge].mean()) if edge.any() else 0.0


def generate(model, prompts: list[str], seeds=SEEDS, steps: int = 20) -> np.ndarray:
    """(len(prompts) * len(seeds), 64, 64, 4): prompt-major, the product's defaults."""
    from genstudio.generators.images.icons import IconRequest

    images = []
    for p in prompts:
        for s in seeds:
            images.extend(model.generate(IconRequest(p, steps=steps, seed=s)).images)
    return np.stack(images)


def contact_sheet(images: np.ndarray, prompts: list[str], seeds=SEEDS, scale: int = 2):
    """A PIL image: one row per prompt (its text on the left, the seeds' icons at ``scale``x,
    nearest-neighbour so every pixel is visible) on a light checker-free grey; two columns of
    rows side by side so 60 rows fit on a screen."""
    from PIL import Image, ImageDraw

    n, k = len(prompts), len(seeds)
    cell, label_w = 64 * scale + 4, 150
    half = (n + 1) // 2
    col_w = label_w + k * cell + 16
    sheet = Image.new("RGBA", (2 * col_w, half * cell + 8), (214, 214, 214, 255))
    draw = ImageDraw.Draw(sheet)
    for i, prompt in enumerate(prompts):
        x0, y0 = (i // half) * col_w + 4, (i % half) * cell + 4
        draw.text((x0, y0 + cell // 2 - 6), f"{i + 1}. {prompt}", fill=(20, 20, 20, 255))
        for j in range(k):
            icon = Image.fromarray(images[i * k + j]).resize((64 * scale,) * 2, Image.NEAREST)
            sheet.alpha_composite(icon, (x0 + label_w + j * cell, y0))
    return sheet


def clip_features(judge, rgba: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(body features (N, F), unit image embeddings (N, 384)) of the prompt judge."""
    import torch
    from torch.nn import functional as F

    from genstudio.ml.images.train import judge_input

    feats, embs = [], []
    with torch.inference_mode():
        for i in range(0, len(rgba), batch):
            f = judge.body(torch.from_numpy(judge_input(rgba[i : i + batch])))
            feats.append(f.numpy())
            embs.append(F.normalize(judge.proj(f), dim=-1).numpy())
    return np.concatenate(feats), np.concatenate(embs)


def text_embeddings(judge, prompts: list[str]) -> np.ndarray:
    import torch

    from genstudio.generators.text_encoder import TextEncoder

    v = TextEncoder().encode(prompts).vectors.astype(np.float32)
    with torch.inference_mode():
        return judge.embed_text(torch.from_numpy(v)).numpy()


def judge_recognised(img_emb: np.ndarray, txt_emb: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: image i (prompt i // k) has its own prompt as the judge's first choice."""
    choice = np.argmax(img_emb @ txt_emb.T, axis=1)
    return choice == np.arange(len(img_emb)) // k


def evaluate(
    data_dir: Path,
    clip_run: Path,
    *,
    pack_dir: Path | None = None,
    sheet: Path | None = None,
    progress=None,
) -> dict[str, Any]:
    from genstudio.core.atomic import atomic_write_bytes
    from genstudio.generators.images.icons import IconModel
    from genstudio.ml.images.data import Dataset
    from genstudio.ml.images.train import load_run
    from genstudio.ml.metrics import frechet, nn_distance

    t0 = time.time()
    rows = load_prompts()
    prompts = [p for _, p in rows]
    model = IconModel(pack_dir)
    gen = generate(model, prompts)
    if progress:
        progress(f"{len(gen)} images in {time.time() - t0:.0f} s")
    if sheet is not None:
        import io

        buf = io.BytesIO()
        contact_sheet(gen, prompts).save(buf, format="PNG")
        atomic_write_bytes(sheet, buf.getvalue())
    ds = Dataset(data_dir)
    judge, _, _ = load_run(clip_run, "clip")
    k = len(SEEDS)
    f_gen, e_gen = clip_features(judge, gen)
    ok = judge_recognised(e_gen, text_embeddings(judge, prompts), k)
    hi, ti = ds.split("heldout"), ds.split("train")
    f_held, _ = clip_features(judge, ds.rgba[hi])
    f_train, _ = clip_features(judge, ds.rgba[ti])
    rng = np.random.Generator(np.random.PCG64(7))
    sub = rng.choice(len(ti), size=min(len(ti), len(gen)), replace=False)
    held_sub = ds.rgba[hi]
    domains = np.repeat([d for d, _ in rows], k)
    per_prompt = {p: int(ok[i * k : (i + 1) * k].sum()) for i, p in enumerate(prompts)}
    return {
        "prompts": len(prompts),
        "images": len(gen),
        "judge_recognised": float(ok.mean()),
        "judge_recognised_by_domain": {d: float(ok[domains == d].mean()) for d in set(domains)},
        "judge_per_prompt": per_prompt,
        "frechet": {
            "generated_vs_heldout": frechet(f_gen, f_held),
            "real_floor_train_vs_heldout": frechet(f_train[sub], f_held),
        },
        "nearest_training_neighbour": {
            "generated": nn_distance(f_gen, f_train),
            "heldout": nn_distance(f_held, f_train),
        },
        "edge_sharpness": {
            "generated": edge_sharpness(gen),
            "heldout_real": edge_sharpness(held_sub),
            "generated_over_real": edge_sharpness(gen) / max(edge_sharpness(held_sub), 1e-9),
        },
        "wall_s": time.time() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m genstudio.ml.images.recognise")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True, help="the prompt judge's run")
    ap.add_argument("--pack", type=Path)
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    out = evaluate(a.data, a.clip, pack_dir=a.pack, sheet=a.sheet, progress=print)
    text = json.dumps(out, indent=1)
    if a.json:
        a.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
