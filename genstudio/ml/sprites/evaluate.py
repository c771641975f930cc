"""``genstudio eval sprites``: generated sheets scored beside real held-out sheets.

Every score is printed beside the same score on real held-out procedural sheets (the ceiling)
and, for distances, real-vs-real (the floor) - ../shared/METRICS.md. Definitions:

* **attribute adherence**: the judge's sheet-level prediction equals the requested value,
  averaged over attribute keys and sheets. Values a sheet cannot show are skipped (the colour
  of headwear when there is none, of hair when bald, of shoes when barefoot; ``HIDDEN``); the
  score over every key is reported too.
* **identity consistency**: cross-pose retrieval. A frame of sheet *s* in pose *p1* is compared
  (cosine, judge features) with the frames in pose *p2* of every sheet in a pool of ``pool``
  sheets; it counts when the nearest is sheet *s* itself. Averaged over sampled pose pairs.
  Real sheets of different characters that share all visible attributes make the ceiling < 1.
* **diversity**: mean pairwise L2 distance between sheet features (mean of frame features).
* **nearest-training-neighbour distance**: mean L2 distance from each sheet to its nearest
  training sheet; a model that copies its training data scores near zero.
* **Frechet distance** between sheet-feature distributions (FID-style, our own feature space).
* **pixel rules**: share of frames whose colours stay within the palette limit and whose alpha
  is only 0 or 255.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genstudio.ml.metrics import frechet, mean_pairwise, nn_distance
from genstudio.ml.sprites import data
from genstudio.ml.sprites.judge import judge_sheets, load_judge, real_sheets

#: attribute -> (other attribute, values of it that hide this one)
HIDDEN: dict[str, tuple[str, tuple[str, ...]]] = {
    "headwear_color": ("headwear", ("none",)),
    "hair_color": ("hair_style", ("bald",)),
    "shoes_color": ("shoes", ("barefoot",)),
}


def visible(attrs: dict[str, str], key: str) -> bool:
    other, hiding = HIDDEN.get(key, ("", ()))
    return not other or attrs.get(other) not in hiding


def identity_retrieval(feats: np.ndarray, pool: int = 100, pairs: int = 40, seed: int = 0) -> float:
    """feats (S, P, d): top-1 cross-pose retrieval accuracy within pools of ``pool`` sheets."""
    rng = np.random.Generator(np.random.PCG64(seed))
    f = feats / (np.linalg.norm(feats, axis=-1, keepdims=True) + 1e-8)
    s, p = f.shape[:2]
    pool = min(pool, s)
    hits, total = 0, 0
    for start in range(0, s - pool + 1, pool):
        block = f[start : start + pool]
        for _ in range(pairs):
            p1, p2 = rng.choice(p, 2, replace=False)
            sim = block[:, p1] @ block[:, p2].T  # (pool, pool)
            hits += int((sim.argmax(1) == np.arange(pool)).sum())
            total += pool
    return hits / max(1, total)


def pixel_rules(sheets: np.ndarray, max_colors: int | None) -> dict[str, float]:
    frames = (
        sheets.reshape(-1, 32 * 32, 4)
        if sheets.shape[-2] == 32
        else sheets.reshape(sheets.shape[0] * sheets.shape[1] * sheets.shape[2], -1, 4)
    )
    alpha_ok = np.isin(frames[..., 3], (0, 255)).all(1)
    if max_colors is None:
        pal_ok = np.ones(len(frames), dtype=bool)
    else:
        per_sheet = sheets.reshape(sheets.shape[0], -1, 4)
        ok_sheet = []
        for sh in per_sheet:
            op = sh[sh[:, 3] == 255, :3]
            ok_sheet.append(len(np.unique(op, axis=0)) <= max_colors)
        frames_per_sheet = len(frames) // len(per_sheet)
        pal_ok = np.repeat(np.array(ok_sheet), frames_per_sheet)
    return {"binary_alpha": float(alpha_ok.mean()), "within_palette": float(pal_ok.mean())}


def evaluate(
    judge_dir: Path,
    generate: Callable[[list[dict[str, str]], list[int]], np.ndarray],
    *,
    n: int = 500,
    n_train_ref: int = 2000,
    max_colors: int | None = None,
    generate_limited: Callable[[list[dict[str, str]], list[int]], np.ndarray] | None = None,
) -> dict:
    """Score ``generate(attrs_list, seeds) -> (S, D, F, 32, 32, 4)`` against held-out sheets.

    Quality is scored on the sheets as the model makes them (like the real ones, no palette
    limit); the pixel rules on ``generate_limited`` (the same requests with the user's palette
    limit of ``max_colors`` applied), when given."""
    judge, _ = load_judge(judge_dir)
    vocab = data.vocabulary()
    keys = list(vocab)
    t0 = time.time()
    real, real_attrs = real_sheets("heldout", 0, 2 * n)
    real_a, real_b = real[:n], real[n:]
    seeds = [data.SPLIT_SEED_BASE["heldout"] + 10_000_000 + i for i in range(n)]
    # Ask for the attributes of the held-out characters, so both sides share one distribution.
    req = real_attrs[:n]
    gen = generate(req, seeds)
    t_gen = time.time() - t0
    train, _ = real_sheets("train", 0, n_train_ref)

    f_real_a, p_real_a = judge_sheets(judge, real_a)
    f_real_b, _ = judge_sheets(judge, real_b)
    f_gen, p_gen = judge_sheets(judge, gen)
    f_train, _ = judge_sheets(judge, train)
    sheet = lambda f: f.mean(1)  # noqa: E731

    def adherence(preds: list[np.ndarray], attrs: list[dict[str, str]]) -> dict[str, float]:
        per: dict[str, float] = {}
        hits_all, hits_vis, n_vis = 0, 0, 0
        for i, k in enumerate(keys):
            want = np.array([vocab[k].index(a[k]) for a in attrs])
            ok = preds[i] == want
            vis = np.array([visible(a, k) for a in attrs])
            per[k] = float(ok[vis].mean()) if vis.any() else float("nan")
            hits_all += int(ok.sum())
            hits_vis += int(ok[vis].sum())
            n_vis += int(vis.sum())
        per["mean"] = hits_vis / max(1, n_vis)
        per["mean_all_keys"] = hits_all / (len(keys) * len(attrs))
        return per

    adh_real = adherence(p_real_a, real_attrs[:n])
    adh_gen = adherence(p_gen, req)
    id_real = identity_retrieval(f_real_a)
    id_gen = identity_retrieval(f_gen)
    div_real = mean_pairwise(sheet(f_real_a))
    div_gen = mean_pairwise(sheet(f_gen))
    nn_real = nn_distance(sheet(f_real_a), sheet(f_train))
    nn_gen = nn_distance(sheet(f_gen), sheet(f_train))
    fd_floor = frechet(sheet(f_real_a), sheet(f_real_b))
    fd_gen = frechet(sheet(f_gen), sheet(f_real_b))
    px = pixel_rules(generate_limited(req, seeds) if generate_limited else gen, max_colors)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    return {
        "n_generated": int(len(gen)),
        "n_real_heldout": int(len(real)),
        "attribute_adherence": {
            "generated": adh_gen["mean"],
            "real_ceiling": adh_real["mean"],
            "ratio": ratio(adh_gen["mean"], adh_real["mean"]),
            "target_ratio": 0.90,
            "all_keys": {"generated": adh_gen["mean_all_keys"], "real": adh_real["mean_all_keys"]},
            "per_attribute": {k: {"generated": adh_gen[k], "real": adh_real[k]} for k in keys},
        },
        "identity_consistency": {
            "generated": id_gen,
            "real_ceiling": id_real,
            "ratio": ratio(id_gen, id_real),
            "target_ratio": 0.90,
            "definition": "top-1 cross-pose retrieval among 100 sheets (judge features, cosine)",
        },
        "diversity": {
            "generated": div_gen,
            "real": div_real,
            "ratio": ratio(div_gen, div_real),
            "target_ratio": 0.80,
        },
        "nearest_train_distance": {"generated": nn_gen, "real_heldout": nn_real},
        "frechet_distance": {"generated_vs_real": fd_gen, "real_vs_real_floor": fd_floor},
        "pixel_rules": {**px, "target": 1.0, "max_colors": max_colors},
        "seconds": {"generate": t_gen, "total": time.time() - t0},
    }
