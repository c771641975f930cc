"""Gallery benchmark: open + first page of thumbnails, and text search, at N assets.

Used by ``genstudio bench gallery``. Numbers are wall-clock on this machine with a warm OS
file cache (the assets were just written); "cold" means an empty thumbnail cache.
Targets (foundation issue): open + first page <= 1.0 s and search <= 100 ms at 10,000 assets.
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genstudio.core.assets import AssetRecord, sha256_bytes, sidecar_name
from genstudio.core.gallery import Query
from genstudio.core.project import Project
from genstudio.core.stats import summarize

TARGET_OPEN_FIRST_PAGE_S = 1.0
TARGET_SEARCH_S = 0.100
PAGE = 100

_WORDS = (
    "knight dragon castle forest slime wizard archer robot ninja pirate ghost zombie cat dog "
    "fox owl tree river mountain desert ocean city village tower cave temple ruins night day "
    "sunset storm snow rain fire ice stone gold silver crystal red blue green purple orange "
    "black white tiny giant ancient cute dark bright pixel portrait landscape idle walk run "
    "attack jump sword shield bow staff potion chest door key map ship train car lantern"
).split()
_TAGS = "hero enemy boss npc tileset ui keeper draft final wip favorite-set test".split()


def _pool_pngs(count: int, size: int, rng: random.Random) -> list[bytes]:
    from PIL import Image, ImageDraw

    out = []
    for _ in range(count):
        c1 = tuple(rng.randrange(256) for _ in range(3))
        im = Image.new("RGB", (size, size), c1)
        d = ImageDraw.Draw(im)
        for _ in range(6):
            x0, y0 = rng.randrange(size), rng.randrange(size)
            x1, y1 = min(size, x0 + rng.randrange(8, size // 2)), min(size, y0 + 40)
            d.ellipse((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
        buf = io.BytesIO()
        im.save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def make_synthetic_project(root: Path, n: int, *, seed: int = 0, image_size: int = 256) -> None:
    """A project of ``n`` image assets (real PNGs, prompts, tags) written straight to disk.

    Files and sidecars use the project's own record/sidecar format but plain writes without
    fsync (for speed); the index is then built by the gallery itself when the project opens.
    """
    rng = random.Random(seed)
    proj = Project.create(root, name=f"bench {n}")
    proj.close()
    pool = _pool_pngs(48, image_size, rng)
    shas = [sha256_bytes(b) for b in pool]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assets = root / "assets"
    for i in range(n):
        k = rng.randrange(len(pool))
        when = start + timedelta(seconds=i * 37 + rng.randrange(30))
        asset_id = when.strftime("%Y%m%d-%H%M%S-") + f"{rng.getrandbits(24):06x}"
        created = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        prompt = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        rec = AssetRecord(
            id=asset_id,
            kind="sprite" if i % 3 == 0 else "image",
            file=f"{asset_id}.png",
            sha256=shas[k],
            size=len(pool[k]),
            created=created,
            modified=created,
            generator="bench.synthetic",
            model_id=f"bench-model-{i % 4}",
            model_sha256="0" * 64,
            params={"prompt": prompt, "steps": 20, "width": image_size, "height": image_size},
            seed=i,
            tags=rng.sample(_TAGS, rng.randint(0, 3)),
            favorite=rng.random() < 0.1,
            rating=rng.randrange(6),
        )
        (assets / rec.file).write_bytes(pool[k])
        (assets / sidecar_name(asset_id)).write_text(json.dumps(rec.to_sidecar()))


def _summary(xs: list[float]) -> dict[str, float]:
    return {k: round(v, 4) if k != "n" else v for k, v in summarize(xs).items()}


def _open_first_page(root: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    proj = Project.open(root)
    try:
        gallery = proj.gallery  # opens the index and reconciles with assets/
        t_open = time.perf_counter() - t0
        shown = 0
        for rec in gallery.query(Query(limit=PAGE)):
            if gallery.thumbnail(rec.id) is not None:
                shown += 1
        return time.perf_counter() - t0, t_open, shown
    finally:
        proj.close()


def bench_gallery(
    n: int = 10_000, root: Path | None = None, *, runs: int = 10, search_runs: int = 30
) -> dict[str, Any]:
    """Build a synthetic project of ``n`` assets and time what a user waits for.

    ``root`` must not exist yet (or be empty); by default a temporary folder is used and
    removed afterwards.
    """
    tmp = None
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="genstudio-bench-"))
        root = tmp / "project"
    root = Path(root)
    try:
        t0 = time.perf_counter()
        make_synthetic_project(root, n)
        t_make = time.perf_counter() - t0

        t0 = time.perf_counter()
        proj = Project.open(root)
        count = proj.gallery.count(Query())
        proj.close()
        t_first_index = time.perf_counter() - t0

        thumbs = root / "cache" / "thumbs"
        cold: list[float] = []
        cold_open: list[float] = []
        warm: list[float] = []
        warm_open: list[float] = []
        shown = 0
        _open_first_page(root)  # warm-up (imports, OS caches)
        for _ in range(runs):
            shutil.rmtree(thumbs, ignore_errors=True)
            total, t_open, shown = _open_first_page(root)
            cold.append(total)
            cold_open.append(t_open)
            total, t_open, _ = _open_first_page(root)
            warm.append(total)
            warm_open.append(t_open)

        queries = [
            "knight",
            "drag",
            "red castle",
            "pix port",
            "night forest",
            "blue slime att",
            "hero",
            "gold cr",
        ]
        search: list[float] = []
        search_q: dict[str, list[float]] = {q: [] for q in queries}
        hits: dict[str, int] = {}
        proj = Project.open(root)
        try:
            g = proj.gallery
            for q in queries:  # warm-up
                g.query(Query(text=q))
            for _ in range(search_runs):
                for q in queries:
                    t0 = time.perf_counter()
                    g.query(Query(text=q, limit=PAGE))
                    hits[q] = g.count(Query(text=q))
                    dt = time.perf_counter() - t0
                    search.append(dt)
                    search_q[q].append(dt)
            t0 = time.perf_counter()
            g.reconcile()
            t_reconcile = time.perf_counter() - t0
        finally:
            proj.close()

        open_page = _summary(cold)
        return {
            "n_assets": n,
            "indexed": count,
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
                "platform": platform.platform(),
            },
            "make_assets_s": round(t_make, 2),
            "first_open_build_index_s": round(t_first_index, 3),
            "open_first_page_cold_thumbs": open_page,
            "open_only_cold": _summary(cold_open),
            "open_first_page_warm_thumbs": _summary(warm),
            "open_only_warm": _summary(warm_open),
            "thumbnails_shown": shown,
            "reconcile_unchanged_s": round(t_reconcile, 4),
            "search_query_plus_count": _summary(search),
            "search_p50_by_query_s": {
                q: round(statistics.median(v), 4) for q, v in search_q.items()
            },
            "search_hits": hits,
            "targets": {
                "open_first_page_s": TARGET_OPEN_FIRST_PAGE_S,
                "search_s": TARGET_SEARCH_S,
            },
            "meets_targets": {
                "open_first_page_cold_p95": open_page["p95_s"] <= TARGET_OPEN_FIRST_PAGE_S,
                "open_first_page_warm_p95": _summary(warm)["p95_s"] <= TARGET_OPEN_FIRST_PAGE_S,
                "search_p95": _summary(search)["p95_s"] <= TARGET_SEARCH_S,
            },
            "notes": "wall clock; OS file cache warm; cold = empty thumbnail cache; thumbnails "
            "128 px from 256x256 PNGs; search = query(limit=100) + count()",
        }
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
