"""Merge reports of several ``fuzz_all`` runs into one, with a summary per parser.

    python -m tests.campaigns.fuzz_merge --out docs/campaigns/fuzz.json RUN1.json RUN2.json ...

A target that appears in several runs is taken from the *last* file given (a run repeated after a
fix replaces the run before it; the replaced runs are listed under ``superseded``). Targets are
grouped by the parser of user input they exercise (the issue's list): formats that share one
reader (the six image formats, the four palette formats, the three tools' metadata) add up to
that reader's CPU time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PARSERS: dict[str, list[str]] = {
    "images (PNG/JPEG/WebP/BMP/GIF/TIFF: init images and masks)": [
        "image_png",
        "image_jpeg",
        "image_webp",
        "image_bmp",
        "image_gif",
        "image_tiff",
    ],
    "palettes (.gpl/.hex/.pal/.png)": ["palette_gpl", "palette_hex", "palette_pal", "palette_png"],
    "MIDI": ["midi"],
    "WAV": ["wav"],
    "project.json": ["project_json"],
    "sidecars": ["sidecar"],
    "model.json": ["model_json"],
    "ONNX headers": ["onnx"],
    "A1111/ComfyUI/InvokeAI metadata": ["metadata_a1111", "metadata_comfyui", "metadata_invokeai"],
    "more: whole-file metadata, GenStudio records, thumbnails, SoundFonts": [
        "metadata_file",
        "metadata_genstudio",
        "thumbnail",
        "soundfont",
    ],
}
COUNTS = ("tracebacks", "forbidden_decoders", "hangs", "memory", "crashes")


KIND_COUNT = {
    "traceback": "tracebacks",
    "forbidden-decoder": "forbidden_decoders",
    "hang": "hangs",
    "memory": "memory",
    "crash": "crashes",
}


def _without_carried_over(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A rerun in the same --workdir lists the earlier run's findings again (runners before the
    fix that moves them aside did): findings whose input is one the earlier run reported are
    moved to ``carried_over`` (they belong to the earlier run), and the counts recomputed."""
    before = {Path(f["input"]).name for f in old["findings"]}
    mine = [f for f in new["findings"] if Path(f["input"]).name not in before]
    carried = [f for f in new["findings"] if Path(f["input"]).name in before]
    if not carried:
        return new
    out = {**new, "findings": mine, "carried_over": carried}
    for kind, count in KIND_COUNT.items():
        out[count] = sum(1 for f in mine if f["kind"] == kind)
    return out


def merge(paths: list[Path]) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    superseded: list[dict[str, Any]] = []
    for path in paths:
        report = json.loads(path.read_text("utf-8"))
        for t in report["targets"]:
            t = {**t, "run": path.name, "run_date": report.get("date")}
            if t["target"] in targets:
                old = targets[t["target"]]
                superseded.append({k: old[k] for k in ("target", "run", "cpu_min", *COUNTS)})
                t = _without_carried_over(t, old)
            targets[t["target"]] = t
    parsers = []
    for name, members in PARSERS.items():
        got = [targets[m] for m in members if m in targets]
        parsers.append(
            {
                "parser": name,
                "targets": [m for m in members if m in targets],
                "missing": [m for m in members if m not in targets],
                "cpu_min": round(sum(t["cpu_min"] for t in got), 2),
                "cpu_min_per_target": [round(t["cpu_min"], 2) for t in got],
                "execs": sum(t["execs"] for t in got),
                "peak_rss_mb": max((t["peak_rss_mb"] for t in got), default=0),
                "slowest_unit_cpu_s": max((t["slowest_unit_cpu_s"] for t in got), default=0),
                **{c: sum(t[c] for t in got) for c in COUNTS},
            }
        )
    findings = sum(len(t["findings"]) for t in targets.values())
    return {
        "what": "coverage-guided fuzzing (atheris/libFuzzer) of every parser of user input",
        "runs": [p.name for p in paths],
        "totals": {
            "targets": len(targets),
            "cpu_min": round(sum(t["cpu_min"] for t in targets.values()), 2),
            "execs": sum(t["execs"] for t in targets.values()),
            "findings": findings,
            **{c: sum(t[c] for t in targets.values()) for c in COUNTS},
            "peak_rss_mb": max(t["peak_rss_mb"] for t in targets.values()),
            "slowest_unit_cpu_s": max(t["slowest_unit_cpu_s"] for t in targets.values()),
        },
        "parsers": parsers,
        "targets": sorted(targets.values(), key=lambda t: t["target"]),
        "superseded": superseded,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("reports", type=Path, nargs="+")
    a = ap.parse_args(argv)
    merged = merge(a.reports)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(merged, indent=2) + "\n", "utf-8")
    print(json.dumps(merged["totals"], indent=2))
    for p in merged["parsers"]:
        print(f"{p['parser'][:60]:60s} {p['cpu_min']:6.2f} CPU-min  {p['cpu_min_per_target']}")
    return 0 if merged["totals"]["findings"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
