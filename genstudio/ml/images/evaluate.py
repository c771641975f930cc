"""``genstudio eval images``: the built-in model's pictures judged against held-out real icons.

The judge is a classifier of emoji subgroups trained by the project on the real training icons
(``train.py``, ``what="judge"``); no Inception weights exist offline, so it is also the feature
space (its penultimate layer, 128-d) of the Frechet distance - an FID-style number in our own
domain's feature space, not comparable with published FIDs.

* **Prompt adherence**: for every category (emoji subgroup) of the data, ``per_category``
  prompts "<label>, <subgroup words>" - labels of held-out emoji where the category has any
  (concepts the model never saw), else of training emoji (reported separately) - one image
  each with its own seed; the judge's top-1/top-5 accuracy on the prompted category, beside its
  accuracy on the real held-out icons (the ceiling). Target: generated top-5 >= 60% of real.
* **Frechet distance** of generated vs held-out features, beside the real-vs-real floor
  (training icons, as many as generated, vs the same held-out set).
* **Diversity**: mean pairwise feature distance of the generated set vs the held-out set.
* **Copying**: mean distance of each generated image to its nearest training icon (features),
  beside the same for the held-out icons (a model that copies scores far below).

The product's default guidance is chosen by :func:`guidance_sweep` (``genstudio eval images
--guidance-sweep 4,6,8``) on prompts of *training* emoji, one per category - never on the
eval's held-out prompts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.ml.images.data import Dataset
from genstudio.ml.metrics import frechet, mean_pairwise, nn_distance


def eval_prompts(ds: Dataset, per_category: int, seed: int) -> list[dict[str, Any]]:
    """``per_category`` prompts for every category: (prompt, category id, held-out or not)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = []
    for c, name in enumerate(ds.categories):
        held = [i for i, it in enumerate(ds.items) if it["subgroup"] == name and it["split"] == "heldout"]  # fmt: skip
        pool = held or [i for i, it in enumerate(ds.items) if it["subgroup"] == name]
        for k in range(per_category):
            it = ds.items[pool[int(rng.integers(len(pool)))]]
            rows.append(
                {
                    "prompt": it["captions"][1],
                    "category": c,
                    "heldout_concept": bool(held),
                    "seed": seed * 10_000 + c * 100 + k,
                }
            )
    return rows


def evaluate(
    data_dir: Path,
    judge_run: Path,
    *,
    pack_dir: Path | None = None,
    per_category: int = 6,
    steps: int = 20,
    guidance: float | None = None,  # None: the product default
    scheduler: str = "dpmpp_2m",
    seed: int = 0,
    progress=None,
) -> dict[str, Any]:
    from genstudio.generators.images.icons import DEFAULT_GUIDANCE, IconModel
    from genstudio.ml.images.train import evaluate_judge, judge_features, load_run, topk_accuracy

    t0 = time.time()
    guidance = DEFAULT_GUIDANCE if guidance is None else guidance
    ds = Dataset(data_dir)
    judge, _, _ = load_run(judge_run, "judge")
    model = IconModel(pack_dir)
    prompts = eval_prompts(ds, per_category, seed)
    gen = _generate(
        model, [(r["prompt"], r["seed"]) for r in prompts], steps, guidance, scheduler, progress
    )
    labels = np.array([r["category"] for r in prompts])
    held_concept = np.array([r["heldout_concept"] for r in prompts])
    f_gen, lg_gen = judge_features(judge, gen)
    hi, ti = ds.split("heldout"), ds.split("train")
    f_held, lg_held = judge_features(judge, ds.rgba[hi])
    f_train, _ = judge_features(judge, ds.rgba[ti])
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    sub = rng.choice(len(ti), size=min(len(ti), len(gen)), replace=False)
    real_top5 = topk_accuracy(lg_held, ds.labels[hi], 5)
    gen_top5 = topk_accuracy(lg_gen, labels, 5)
    out: dict[str, Any] = {
        "n_generated": len(gen),
        "categories": len(ds.categories),
        "categories_with_heldout_concepts": int(len(set(labels[held_concept]))),
        "settings": {"steps": steps, "guidance": guidance, "scheduler": scheduler},
        "adherence": {
            "generated_top1": topk_accuracy(lg_gen, labels, 1),
            "generated_top5": gen_top5,
            "generated_top5_heldout_concepts": topk_accuracy(
                lg_gen[held_concept], labels[held_concept], 5
            ),
            "generated_top5_training_concepts": topk_accuracy(
                lg_gen[~held_concept], labels[~held_concept], 5
            )
            if (~held_concept).any()
            else None,
            "real_heldout_top1": topk_accuracy(lg_held, ds.labels[hi], 1),
            "real_heldout_top5": real_top5,
            "ratio_top5": gen_top5 / max(real_top5, 1e-9),
            "target_ratio": 0.6,
        },
        "frechet": {
            "generated_vs_heldout": frechet(f_gen, f_held),
            "real_floor_train_vs_heldout": frechet(f_train[sub], f_held),
        },
        "diversity": {
            "generated": mean_pairwise(f_gen),
            "heldout": mean_pairwise(f_held),
        },
        "nearest_training_neighbour": {
            "generated": nn_distance(f_gen, f_train),
            "heldout": nn_distance(f_held, f_train),
        },
        "judge": evaluate_judge(judge_run, data_dir),
        "wall_s": time.time() - t0,
    }
    return out


def _generate(model, jobs, steps, guidance, scheduler, progress=None) -> np.ndarray:
    """One image per (prompt, seed) through the product's pipeline -> (N, 64, 64, 4) uint8."""
    from genstudio.generators.images.icons import IconRequest

    images = []
    for k, (prompt, seed) in enumerate(jobs):
        req = IconRequest(prompt, steps=steps, guidance=guidance, scheduler=scheduler, seed=seed)
        images.append(model.generate(req).images[0])
        if progress:
            progress(f"{k + 1}/{len(jobs)}")
    return np.stack(images)


def guidance_sweep(
    data_dir: Path,
    judge_run: Path,
    scales: list[float],
    *,
    pack_dir: Path | None = None,
    steps: int = 20,
    seed: int = 123,
    progress=None,
) -> dict[str, Any]:
    """Judge top-5 on the prompted category for each guidance scale, on one prompt of a
    *training* emoji per category (the eval's prompts are held-out emoji; these are not)."""
    from genstudio.generators.images.icons import IconModel
    from genstudio.ml.images.train import judge_features, load_run, topk_accuracy

    ds = Dataset(data_dir)
    judge, _, _ = load_run(judge_run, "judge")
    model = IconModel(pack_dir)
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = []
    for c, name in enumerate(ds.categories):
        pool = [i for i, it in enumerate(ds.items) if it["subgroup"] == name and it["split"] == "train"]  # fmt: skip
        if pool:
            rows.append((ds.items[pool[int(rng.integers(len(pool)))]]["captions"][1], c))
    labels = np.array([c for _, c in rows])
    top5: dict[str, float] = {}
    jobs = [(prompt, seed * 10_000 + k) for k, (prompt, _) in enumerate(rows)]
    for g in scales:
        _, lg = judge_features(judge, _generate(model, jobs, steps, g, "dpmpp_2m"))
        top5[f"{g:g}"] = topk_accuracy(lg, labels, 5)
        if progress:
            progress(f"guidance {g:g}: top-5 {top5[f'{g:g}']:.3f}")
    best = max(top5, key=lambda k: top5[k])
    return {"prompts": len(rows), "split": "train", "top5": top5, "best": float(best)}
