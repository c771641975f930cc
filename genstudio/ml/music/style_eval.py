"""Style adoption of a fine-tuned MusicGPT (METRICS.md, "Fine-tuning: style adoption").

The material is :mod:`genstudio.ml.music.style_data` (a collection the base never saw, split
by piece into a training half and a held-out half; the held-out pieces again into halves A and
B). Pieces are generated with the product's sampler, prompted with the held-out excerpts'
headers (key, time signature, tempo, number of voices), so the base and the tuned model are
asked for exactly the same things, and compared with the held-out half:

    D_floor = D(H_A, H_B)                                       real vs real: the best reachable
    D_model = 1/2 [ D(G_B, H_A) + D(G_A, H_B) ]                 G_X: one piece per item of H_X
    adoption = (D_base - D_tuned) / (D_base - D_floor)          1 = as close as real pieces are

so the generated set that is compared with one half is as large as, and prompted like, the real
set that makes the floor with it (a floor from smaller sets than the model's would be noisier
and make adoption look easier). D is averaged over the seeds given; the spread over seeds is
reported beside it, and so is the floor's spread over 30 seeded random piece splits of the
held-out half (``floor_spread_random_halves``; on the madrigals the fixed halves give 0.064,
random splits 0.10 +- 0.03, so the fixed floor is a strict one). The base is prompted with its
own closest style (``--base-style``, chorale for voices); with ``--base-style4`` also with the
spare token the tuned pack uses (a token the base never trained on), and adoption is reported
against that baseline too (``adoption_vs_base_style4``): what tuning adds over the untouched
weights under the same prompt.

The distance ``D(A, B)`` of two sets of Scores (:func:`descriptor_distance`) is the mean of three
parts, each 0 for identical sets:

* ``descriptors`` - for each MusPy descriptor of ``metrics.describe`` (pitch-class entropy,
  scale consistency, groove consistency, empty-bar rate, polyphony, note density, pitch range):
  ``d_k = |mean_A - mean_B| / sqrt((var_A + var_B) / 2)`` (Cohen's d with the pooled sample
  standard deviation, ddof 1), capped at ``D_CAP`` = 5; 0 when both sets are constant and equal,
  ``D_CAP`` when they are constant and differ; the part is the mean of the 7 ``d_k``.
* ``pitch_class`` - total variation ``1/2 sum |p_A - p_B|`` between the set means of the
  per-piece pitch-class histograms (note counts, drums left out, each piece normalised to sum 1,
  so every piece weighs the same). Key-normalised: each histogram is rotated so that the tonic
  of the relative major of the piece's key is at 0 (C major and A minor are not moved). The key
  is the Score's own - for a generated piece the key it was prompted with (and locked to), for a
  held-out excerpt the key of its whole piece (``style_data``: Krumhansl-Kessler), which is the
  key that prompts its generated twin - else ``metrics.estimate_key``. The relative major, not
  the tonic, so that a modal piece whose estimate could go to the relative major or minor lands
  on the same diatonic collection; what is left to compare is the weight on each degree and the
  chromatic notes. (A per-excerpt Krumhansl-Kessler estimate was tried first: on 12 vs 11
  madrigal excerpts its floor, 0.10, was as large as the base's distance.)
* ``onset`` - total variation between the set means of the per-piece onset-position histograms:
  ``metrics.onset_grid`` (16th-note grid, one count per onset instant whatever the number of
  notes starting there) summed over the bars, normalised per piece, padded to 32 positions.

Total variation is in [0, 1] and the descriptor part in pooled-std units (on the madrigals:
0.11 between the held-out halves, 1.15 for the base's chorale-style pieces, against 0.03-0.04
and 0.12-0.18 for the two histogram parts), so the descriptor part weighs most in D; the parts
and the adoption of each part are reported too.

Real and generated pieces go through the same path before they are described: the token codec
(``tokens.encode(., "style4")`` then the product's ``MusicGenerator._score``: decode, notes cut at
the final bar line), so real pieces are on the 16th grid with the codec's duration bins, exactly
what the model could write.

Held-out likelihood (:func:`heldout_nll`): mean negative log-likelihood (nats per token) of the
held-out excerpts' tokens, through the pack's ONNX model with its KV cache. Each excerpt is
``encode(., "style4")`` without EOS (an excerpt's end is not the piece's end); its bars are cut
into consecutive windows of at most ``max_len`` tokens - the header + as many whole bars as fit,
as in training - and every body token (BAR onwards) is scored once, the header is the prompt.
The base is scored on the same tokens (STYLE = style4, a token it never trained on: where fine-
tuning starts), and also with its own ``--base-style`` token in the header.

    python -m genstudio.ml.music.style_eval --data runs/style-eval \\
        --base resources/models/music-gpt --base-style chorale [--tuned PACK] \\
        [--seeds 0 1] [--references] [--rolls DIR] --out docs/models/music-style-eval.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import GenStudioError
from genstudio.generators.music.score import Score

log = logging.getLogger(__name__)

D_CAP = 5.0
N_POS = 32  # onset histogram length (tokens.N_POSITIONS)
PARTS = ("descriptors", "pitch_class", "onset")
DEFAULT_TEMPERATURE = 1.0  # the product's defaults (MusicParams / STYLE_TOP_P)
DEFAULT_TOP_P = 0.95


# --------------------------------------------------------------------------- the distance


def _hist_pc(score: Score) -> np.ndarray | None:
    from genstudio.generators.music import metrics

    notes = metrics.pitched(score)
    if not notes:
        return None
    h = metrics.pc_histogram(notes)
    key = score.key or metrics.estimate_key(score)
    shift = 0 if key is None else (key.tonic if key.mode == "major" else (key.tonic + 3) % 12)
    h = np.roll(h, -shift)
    return h / h.sum()


def _hist_onset(score: Score) -> np.ndarray | None:
    from genstudio.generators.music import metrics

    g = metrics.onset_grid(score)
    counts = g.sum(axis=0).astype(float)[:N_POS]
    if counts.sum() == 0:
        return None
    out = np.zeros(N_POS)
    out[: len(counts)] = counts
    return out / out.sum()


def features(scores: list[Score]) -> list[dict[str, Any]]:
    """Per piece: the descriptors and the two histograms (None when the piece has no notes)."""
    from genstudio.generators.music import metrics

    return [
        {"desc": metrics.describe(s), "pc": _hist_pc(s), "onset": _hist_onset(s)} for s in scores
    ]


def _set_hist(rows: list[dict[str, Any]], key: str, n: int) -> np.ndarray:
    hs = [r[key] for r in rows if r[key] is not None]
    return np.mean(hs, axis=0) if hs else np.full(n, 1.0 / n)


def _cohen(a: np.ndarray, b: np.ndarray) -> float:
    diff = abs(float(a.mean()) - float(b.mean()))
    va = float(a.var(ddof=1)) if len(a) > 1 else 0.0
    vb = float(b.var(ddof=1)) if len(b) > 1 else 0.0
    s = float(np.sqrt((va + vb) / 2))
    if s < 1e-12:
        return 0.0 if diff < 1e-12 else D_CAP
    return min(D_CAP, diff / s)


def feature_distance(fa: list[dict[str, Any]], fb: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`descriptor_distance` on precomputed :func:`features`."""
    from genstudio.generators.music import metrics

    if not fa or not fb:
        raise ValueError("descriptor_distance needs two non-empty sets")
    per = {}
    for k in metrics.METRIC_NAMES:
        a = np.array([r["desc"][k] for r in fa], float)
        b = np.array([r["desc"][k] for r in fb], float)
        per[k] = {"a": float(a.mean()), "b": float(b.mean()), "d": _cohen(a, b)}
    parts = {
        "descriptors": float(np.mean([v["d"] for v in per.values()])),
        "pitch_class": 0.5 * float(np.abs(_set_hist(fa, "pc", 12) - _set_hist(fb, "pc", 12)).sum()),
        "onset": 0.5
        * float(np.abs(_set_hist(fa, "onset", N_POS) - _set_hist(fb, "onset", N_POS)).sum()),
    }
    return {
        "D": float(np.mean([parts[p] for p in PARTS])),
        **parts,
        "per_descriptor": per,
        "n": [len(fa), len(fb)],
    }


def descriptor_distance(set_a: list[Score], set_b: list[Score]) -> dict[str, Any]:
    """D between two sets of Scores and its three parts (see the module docstring):
    ``{"D", "descriptors", "pitch_class", "onset", "per_descriptor": {name: {a, b, d}}, "n"}``."""
    return feature_distance(features(set_a), features(set_b))


# --------------------------------------------------------------------------- codec path


def through_codec(score: Score, style_token: str = "style4") -> Score:
    """A real piece as the model could have written it: encode, then the product's decode +
    cut at the final bar line (``MusicGenerator._score``), key/tempo/meter kept."""
    from genstudio.generators.music import tokens as tk
    from genstudio.generators.music.generator import MusicGenerator

    return MusicGenerator._score(
        tk.encode(score, style_token), score.tempo, score.key, score.time_signature
    )


# --------------------------------------------------------------------------- sampling


def generate_set(
    pack_dir: str | Path | None,
    style_token: str,
    headers: list[dict[str, Any]],
    bars: int,
    seed: int,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    key_lock: bool = True,
) -> list[Score]:
    """One generated piece of ``bars`` bars per header (``{"key", "time_signature", "tempo",
    "tracks"}``), with the product's sampler and defaults (temperature 1.0, top-p 0.95, key lock,
    no silent bars, the style's pitch ranges - full range for a spare style), as
    ``MusicGenerator.compose`` does in the generate mode; the grammar's ``max_tracks`` is the
    header's voice count (a style with fewer tracks, e.g. chorale's 4, keeps its own).
    Piece i is sampled with seed ``seed * 100_000 + i``."""
    from genstudio.generators.music import sampler
    from genstudio.generators.music.generator import MusicGenerator
    from genstudio.generators.music.score import parse_key, parse_time_signature

    model = sampler.load_model(Path(pack_dir) if pack_dir else None)
    out = []
    for i, h in enumerate(headers):
        key = parse_key(h["key"]) if h.get("key") else None
        ts = parse_time_signature(h["time_signature"])
        tempo = float(h["tempo"])
        prompt = sampler.header_tokens(style_token, str(key) if key else None, ts, tempo)
        cons = sampler.Constraints(bars=bars, key_lock=key_lock, max_tracks=int(h["tracks"]))
        settings = sampler.SampleSettings(temperature, 0, top_p, seed * 100_000 + i)
        seq = sampler.generate_tokens(model, prompt, sampler.Grammar(prompt, cons), settings)
        out.append(MusicGenerator._score(seq, tempo, key, ts))
    return out


# --------------------------------------------------------------------------- likelihood


def _windows(tokens: list[int], max_len: int) -> list[list[int]]:
    """Header + consecutive whole bars, each window at most ``max_len`` tokens (a bar longer
    than that is cut); together the windows hold every body token once."""
    from genstudio.generators.music import tokens as tk

    header, body = tokens[:5], tokens[5:]
    bar = tk.VOCAB.id("BAR")
    starts = [i for i, t in enumerate(body) if t == bar] + [len(body)]
    bars = [body[a:b] for a, b in zip(starts, starts[1:])]
    room = max_len - len(header)
    out: list[list[int]] = []
    cur: list[int] = []
    for b in bars:
        if cur and len(cur) + len(b) > room:
            out.append(header + cur)
            cur = []
        cur += b[:room]
    if cur:
        out.append(header + cur)
    return out


def nll_detail(
    pack_dir: str | Path | None,
    style_token: str,
    scores: list[Score],
    *,
    header_style: str | None = None,
) -> dict[str, float]:
    """Summed NLL (nats), token count and mean; ``header_style`` replaces the STYLE token of
    the ``style_token`` encoding (the base scored with its own style on the same notes)."""
    from genstudio.generators.music import sampler
    from genstudio.generators.music import tokens as tk

    model = sampler.load_model(Path(pack_dir) if pack_dir else None)
    total, count = 0.0, 0
    for score in scores:
        seq = tk.encode(score, style_token)[:-1]
        if header_style is not None:
            seq[1] = tk.VOCAB.id("STYLE", header_style)
        for w in _windows(seq, model.max_len):
            logits, past = model.run(np.array([w[:5]], np.int64), model.empty())
            for j, tok in enumerate(w[5:]):
                z = logits[0].astype(np.float64)
                m = z.max()
                total -= float(z[tok] - m - np.log(np.exp(z - m).sum()))
                count += 1
                if j + 6 < len(w):
                    logits, past = model.run(np.array([[tok]], np.int64), past)
    return {"nll_sum": total, "tokens": count, "nll": total / max(1, count)}


def heldout_nll(
    pack_dir: str | Path | None,
    style_token: str,
    scores: list[Score],
    *,
    header_style: str | None = None,
) -> float:
    """Mean negative log-likelihood (nats per body token) of ``scores`` under the pack."""
    return nll_detail(pack_dir, style_token, scores, header_style=header_style)["nll"]


# --------------------------------------------------------------------------- references


def _pack_info(pack_dir: str | Path | None) -> dict[str, Any]:
    from genstudio.generators.music import sampler

    root = Path(pack_dir) if pack_dir else sampler.default_pack_dir()
    raw = json.loads((root / "model.json").read_text(encoding="utf-8"))
    onnx = (root / "music.onnx").read_bytes()
    return {
        "path": str(pack_dir) if pack_dir else str(root),
        "id": raw.get("id"),
        "version": raw.get("version"),
        "music_onnx_sha256": hashlib.sha256(onnx).hexdigest(),
    }


def _hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "onnxruntime_threads": 1}


def base_reference_sets(bars: int, n: int, seed: int = 0) -> dict[str, list[Score]]:
    """Real pieces of the base's own data, cut like the excerpts (first ``bars`` bars): a
    seeded sample of ``n`` Bach chorales and ``n`` O'Neill's tunes, converted by
    ``genstudio.ml.music.data`` straight from the corpus (no data cache needed)."""
    import warnings

    from genstudio.ml.music import data, style_data

    rng = np.random.Generator(np.random.PCG64(seed))
    out: dict[str, list[Score]] = {"bach_chorales": [], "oneills_folk": []}
    chorales = data._collection_files(data._collection("bach_chorales"))
    for i in rng.permutation(len(chorales)):
        if len(out["bach_chorales"]) >= n:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = data.convert_chorale(chorales[int(i)])[0][0]
        except data.SkipPiece:
            continue
        if score.n_bars >= bars and score.time_signature in _ts_ok():
            out["bach_chorales"].append(style_data.cut(score, 0, bars))
    tunes = [
        (rel, t)
        for rel in data._collection_files(data._collection("oneills1850"))
        for t in data.abc_tunes(rel)
    ]
    for i in rng.permutation(len(tunes)):
        if len(out["oneills_folk"]) >= n:
            break
        rel, t = tunes[int(i)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = data.convert_abc_tune("oneills1850", rel, t)[0]
        except data.SkipPiece:
            continue
        if score.n_bars >= bars and score.time_signature in _ts_ok():
            out["oneills_folk"].append(style_data.cut(score, 0, bars))
    return out


def _ts_ok() -> tuple:
    from genstudio.generators.music import tokens as tk

    return tk.TIME_SIGNATURES


# --------------------------------------------------------------------------- adoption


def _mean_sd(xs: list[float]) -> dict[str, float]:
    a = np.array(xs, float)
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def _versus_halves(
    gen_f: list[dict[str, Any]], held_f: list[dict[str, Any]], ia: list[int], ib: list[int]
) -> dict[str, Any]:
    """1/2 [D(G_B, H_A) + D(G_A, H_B)]: generated pieces prompted by one half vs the other."""
    d1 = feature_distance([gen_f[i] for i in ib], [held_f[i] for i in ia])
    d2 = feature_distance([gen_f[i] for i in ia], [held_f[i] for i in ib])
    out: dict[str, Any] = {p: 0.5 * (d1[p] + d2[p]) for p in ("D", *PARTS)}
    out["per_descriptor_d"] = {
        k: 0.5 * (d1["per_descriptor"][k]["d"] + d2["per_descriptor"][k]["d"])
        for k in d1["per_descriptor"]
    }
    out["generated_means"] = {
        k: float(np.mean([r["desc"][k] for r in gen_f])) for k in d1["per_descriptor"]
    }
    return out


def _reference_vs_halves(
    ref_f: list[dict[str, Any]], held_f: list[dict[str, Any]], ia: list[int], ib: list[int], seed
) -> dict[str, Any]:
    """Like :func:`_versus_halves` for a real reference set: a seeded sample of the size of
    the other half is compared with each half."""
    rng = np.random.Generator(np.random.PCG64(seed))
    pick_b = rng.choice(len(ref_f), size=min(len(ib), len(ref_f)), replace=False)
    pick_a = rng.choice(len(ref_f), size=min(len(ia), len(ref_f)), replace=False)
    d1 = feature_distance([ref_f[i] for i in pick_b], [held_f[i] for i in ia])
    d2 = feature_distance([ref_f[i] for i in pick_a], [held_f[i] for i in ib])
    return {p: 0.5 * (d1[p] + d2[p]) for p in ("D", *PARTS)} | {"n_reference": len(ref_f)}


def floor_spread(
    held_f: list[dict[str, Any]], pieces: list[str], n: int = 30, seed: int = 0
) -> dict[str, float]:
    """D between two halves for ``n`` seeded random splits of the held-out pieces (within each
    book, like the fixed halves): how much the floor moves with the split."""
    from genstudio.ml.music import style_data

    rng = np.random.Generator(np.random.PCG64(seed))
    names = sorted(set(pieces))
    ds = []
    for _ in range(n):
        first: set[str] = set()
        for book in sorted({style_data.book_of(p) for p in names}):
            mine = [p for p in names if style_data.book_of(p) == book]
            first |= {mine[i] for i in rng.permutation(len(mine))[::2]}
        ia = [i for i, p in enumerate(pieces) if p in first]
        ib = [i for i, p in enumerate(pieces) if p not in first]
        if ia and ib:
            ds.append(feature_distance([held_f[i] for i in ia], [held_f[i] for i in ib])["D"])
    a = np.array(ds)
    return {
        "splits": len(ds),
        "mean": float(a.mean()),
        "sd": float(a.std(ddof=1)),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def adoption(
    data_dir: str | Path,
    *,
    base_pack: str | Path | None = None,
    base_style: str = "chorale",
    tuned_pack: str | Path | None = None,
    tuned_style: str = "style4",
    seeds: tuple[int, ...] = (0, 1),
    max_per_piece: int | None = None,
    base_style4: bool = False,
    references: bool = False,
    n_reference: int = 60,
    key_lock: bool = True,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    nll: bool = True,
    rolls_dir: str | Path | None = None,
    progress=None,
) -> dict[str, Any]:
    """D_floor, D_base (and D_tuned, adoption, NLL before/after when ``tuned_pack`` is given);
    see the module docstring. ``max_per_piece`` keeps the first N excerpts of each held-out
    piece (fewer generations); ``references`` adds the sanity distances (the training half, Bach
    chorales and folk tunes of the base data vs the held-out half)."""
    from genstudio.generators.music import metrics
    from genstudio.ml.music import style_data

    say = progress or (lambda msg: log.info("%s", msg))
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    manifest = style_data.load_manifest(data_dir)
    bars = int(manifest["bars"])
    t = time.monotonic()
    held_items = style_data.load_items(data_dir, "heldout", manifest)
    if max_per_piece is not None:
        seen: dict[str, int] = {}
        keep = []
        for s, it in held_items:
            seen[it["piece"]] = seen.get(it["piece"], 0) + 1
            if seen[it["piece"]] <= max_per_piece:
                keep.append((s, it))
        held_items = keep
    halves = manifest["heldout_halves"]
    ia = [i for i, (_, it) in enumerate(held_items) if it["piece"] in set(halves["A"])]
    ib = [i for i, (_, it) in enumerate(held_items) if it["piece"] in set(halves["B"])]
    held = [through_codec(s, tuned_style) for s, _ in held_items]
    held_f = features(held)
    headers = [
        {
            "key": it["key"],
            "time_signature": it["time_signature"],
            "tempo": it["tempo"],
            "tracks": it["tracks"],
        }
        for _, it in held_items
    ]
    timings["load_heldout_s"] = time.monotonic() - t
    floor = feature_distance([held_f[i] for i in ia], [held_f[i] for i in ib])
    in_key = [metrics.in_key_share(s, s.key) for s in held if s.key is not None]
    result: dict[str, Any] = {
        "format": "genstudio-music-style-eval-result",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {
            "dir": str(data_dir),
            "collection": manifest["collection"]["name"],
            "licence": manifest["collection"]["licence"],
            "music21": manifest["music21"],
            "bars": bars,
            "heldout_pieces": {"A": len(halves["A"]), "B": len(halves["B"])},
            "heldout_excerpts": {"A": len(ia), "B": len(ib)},
            "max_per_piece": max_per_piece,
            "heldout_in_key_share": float(np.mean(in_key)) if in_key else None,
        },
        "settings": {
            "seeds": list(seeds),
            "temperature": temperature,
            "top_p": top_p,
            "key_lock": key_lock,
            "silent_bars": False,
            "base_style": base_style,
            "tuned_style": tuned_style,
            "tracks": "the held-out excerpt's voice count (max_tracks); the base's chorale "
            "style has 4",
            "seed_rule": "piece i of seed s: s * 100000 + i",
        },
        "hardware": _hardware(),
        "formula": {
            "D": "mean of descriptors (mean over the 7 MusPy descriptors of min(5, |mean_a - "
            "mean_b| / pooled sd)), pitch_class (total variation of the set-mean pitch-class "
            "histogram, each piece rotated to its estimated key's relative-major tonic) and "
            "onset (total variation of the set-mean onset-position-in-bar histogram)",
            "D_floor": "D(H_A, H_B), the held-out half split by piece",
            "D_model": "1/2 [D(G_B, H_A) + D(G_A, H_B)], G_X generated with H_X's headers; "
            "mean over seeds",
            "adoption": "(D_base - D_tuned) / (D_base - D_floor)",
        },
        "floor": {p: floor[p] for p in ("D", *PARTS)}
        | {"per_descriptor_d": {k: v["d"] for k, v in floor["per_descriptor"].items()}},
        "floor_spread_random_halves": floor_spread(held_f, [it["piece"] for _, it in held_items]),
        "heldout_means": {
            k: float(np.mean([r["desc"][k] for r in held_f])) for k in metrics.METRIC_NAMES
        },
        "models": {},
    }

    runs: list[tuple[str, str | Path | None, str]] = [("base", base_pack, base_style)]
    if base_style4:
        runs.append(("base_style4", base_pack, tuned_style))
    if tuned_pack is not None:
        runs.append(("tuned", tuned_pack, tuned_style))
    generated: dict[str, list[Score]] = {}
    for name, pack, style in runs:
        per_seed = []
        t = time.monotonic()
        for seed in seeds:
            say(f"{name}: generating {len(headers)} pieces ({style}, seed {seed})")
            gen = generate_set(
                pack,
                style,
                headers,
                bars,
                seed,
                temperature=temperature,
                top_p=top_p,
                key_lock=key_lock,
            )
            if seed == seeds[0]:
                generated[name] = gen
            per_seed.append(_versus_halves(features(gen), held_f, ia, ib))
        gen_s = time.monotonic() - t
        timings[f"generate_{name}_s"] = gen_s
        row: dict[str, Any] = {
            "pack": _pack_info(pack),
            "style": style,
            "D": _mean_sd([r["D"] for r in per_seed]),
            **{p: _mean_sd([r[p] for r in per_seed]) for p in PARTS},
            "per_seed": per_seed,
            "generated_pieces": len(headers) * len(seeds),
            "generate_s": round(gen_s, 1),
        }
        result["models"][name] = row

    if nll:
        scores = [s for s, _ in held_items]
        t = time.monotonic()
        say("NLL of the held-out excerpts under the base")
        result["models"]["base"]["nll_heldout"] = nll_detail(base_pack, tuned_style, scores)
        result["models"]["base"]["nll_heldout_as_base_style"] = nll_detail(
            base_pack, tuned_style, scores, header_style=base_style
        )
        timings["nll_base_s"] = time.monotonic() - t
        if tuned_pack is not None:
            t = time.monotonic()
            say("NLL of the held-out excerpts under the tuned pack")
            result["models"]["tuned"]["nll_heldout"] = nll_detail(tuned_pack, tuned_style, scores)
            timings["nll_tuned_s"] = time.monotonic() - t

    base = result["models"]["base"]
    if tuned_pack is not None:
        tuned = result["models"]["tuned"]

        def adopt(p: str, ref: dict[str, Any]) -> float | None:
            gap = ref[p]["mean"] - result["floor"][p]
            return None if abs(gap) < 1e-12 else (ref[p]["mean"] - tuned[p]["mean"]) / gap

        result["adoption"] = {
            "D": adopt("D", base),
            **{p: adopt(p, base) for p in PARTS},
            "baseline": f"base with {base_style}",
            "target": ">= 0.5 (issue 12)",
        }
        if "base_style4" in result["models"]:  # the untrained style token: where tuning starts
            ref = result["models"]["base_style4"]
            result["adoption_vs_base_style4"] = {
                "D": adopt("D", ref),
                **{p: adopt(p, ref) for p in PARTS},
                "baseline": f"base with {tuned_style}",
            }
        if nll:
            result["nll"] = {
                "base": base["nll_heldout"]["nll"],
                "tuned": tuned["nll_heldout"]["nll"],
                "drop": base["nll_heldout"]["nll"] - tuned["nll_heldout"]["nll"],
            }

    if references:
        t = time.monotonic()
        say("reference sets: the training half, Bach chorales, O'Neill's tunes")
        train = [
            through_codec(s, tuned_style)
            for s, _ in style_data.load_items(data_dir, "train", manifest)
        ]
        refs = {"train_half": train}
        for k, v in base_reference_sets(bars, n_reference).items():
            refs[k] = [through_codec(s, tuned_style) for s in v]
        result["references"] = {
            k: _reference_vs_halves(features(v), held_f, ia, ib, seed=7) for k, v in refs.items()
        }
        timings["references_s"] = time.monotonic() - t

    if rolls_dir is not None:
        result["rolls"] = write_rolls(
            Path(rolls_dir), [held[i] for i in range(min(3, len(held)))], generated
        )
    timings["total_s"] = time.monotonic() - t_all
    result["timings"] = {k: round(v, 1) for k, v in timings.items()}
    return result


def write_rolls(folder: Path, real: list[Score], generated: dict[str, list[Score]]) -> list[str]:
    """One PNG per held-out excerpt: the real piece on top, then each model's piece prompted by
    its header (seed 0), with a label above each roll."""
    from PIL import Image, ImageDraw

    from genstudio.generators.music import pianoroll

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, score in enumerate(real):
        rows = [("held-out (real)", score)] + [(k, v[i]) for k, v in generated.items()]
        imgs = []
        for label, s in rows:
            roll = Image.fromarray(pianoroll.render(s, px_per_beat=12, px_per_pitch=3))
            canvas = Image.new("RGB", (roll.width, roll.height + 14), (0, 0, 0))
            canvas.paste(roll, (0, 14))
            ImageDraw.Draw(canvas).text((4, 1), label, fill=(230, 230, 230))
            imgs.append(canvas)
        w = max(im.width for im in imgs)
        sheet = Image.new("RGB", (w, sum(im.height + 4 for im in imgs)), (0, 0, 0))
        y = 0
        for im in imgs:
            sheet.paste(im, (0, y))
            y += im.height + 4
        path = folder / f"style-eval-roll-{i + 1}.png"
        sheet.save(path, format="PNG", optimize=True)
        written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genstudio.ml.music.style_eval")
    ap.add_argument("--data", required=True, help="folder made by genstudio.ml.music.style_data")
    ap.add_argument("--base", default=None, help="base pack (default: the shipped music-gpt)")
    ap.add_argument("--base-style", default="chorale")
    ap.add_argument("--tuned", default=None, help="fine-tuned pack (omit: base and floor only)")
    ap.add_argument("--tuned-style", default="style4")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--max-per-piece", type=int, default=None)
    ap.add_argument("--base-style4", action="store_true", help="also D of the base with style4")
    ap.add_argument("--references", action="store_true", help="sanity distances (train, base data)")
    ap.add_argument("--no-key-lock", action="store_true")
    ap.add_argument("--no-nll", action="store_true")
    ap.add_argument("--rolls", default=None, help="folder for piano-roll PNGs (real vs generated)")
    ap.add_argument("--out", default=None, help="JSON file to write (default: print)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        r = adoption(
            args.data,
            base_pack=args.base,
            base_style=args.base_style,
            tuned_pack=args.tuned,
            tuned_style=args.tuned_style,
            seeds=tuple(args.seeds),
            max_per_piece=args.max_per_piece,
            base_style4=args.base_style4,
            references=args.references,
            key_lock=not args.no_key_lock,
            nll=not args.no_nll,
            rolls_dir=args.rolls,
        )
    except GenStudioError as e:
        print(e.user_message(), file=sys.stderr)
        return 1
    text = json.dumps(r, indent=2)
    if args.out:
        from genstudio.core.atomic import atomic_write_text

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text + "\n")
    summary = {
        "floor_D": r["floor"]["D"],
        "floor_D_random_halves": r["floor_spread_random_halves"],
        **{f"{k}_D": v["D"] for k, v in r["models"].items()},
        "adoption": r.get("adoption"),
        "adoption_vs_base_style4": r.get("adoption_vs_base_style4"),
        "nll": {
            f"{k}{suffix}": v[f"nll_heldout{suffix}"]["nll"]
            for k, v in r["models"].items()
            for suffix in ("", "_as_base_style")
            if f"nll_heldout{suffix}" in v
        },
        "references": {k: v["D"] for k, v in r.get("references", {}).items()},
        "timings": r["timings"],
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
