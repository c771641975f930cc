"""Run every fuzz target (tests/campaigns/fuzz.py) for N CPU-seconds each and write a report.

    python -m tests.campaigns.fuzz_all --seconds 600 --out docs/campaigns/fuzz.json
    python -m tests.campaigns.fuzz_all --seconds 30 --targets midi wav --jobs 2

One child process per target (several in a row when one stops on a hang or an out-of-memory),
so every figure is per target: CPU time (user + system) and peak RSS come from ``os.wait4`` of
each child, never from this process. ``--seconds`` is a **CPU-time** budget: a child gets
``-max_total_time`` = the CPU time still missing, and children follow one another until the
target has used that much CPU (on a busy machine this takes longer than the wall time it
names); ``--max-wall-factor`` bounds the wall time. Every child continues from the corpus the
previous ones built (``--workdir/<target>/corpus``).

Findings: exceptions (recorded by the harness in ``--keep-going`` mode, first input per
signature), hangs (one input over ``--timeout`` CPU-seconds, measured in the child with
``ITIMER_PROF`` so that a busy machine does not make units "hang"; and libFuzzer's
``timeout-*`` artifact, one input over ``--wall-timeout`` wall seconds, for inputs that block
without using CPU), memory
(``oom-*``: the process over ``--rss-limit-mb``, or one allocation over it) and crashes
(``crash-*``, a child killed by a signal). Their inputs are copied to ``--repro-out/<target>/``
(default: ``--workdir/finding_inputs``; minimise one with
``python -m tests.campaigns.fuzz TARGET --replay FILE`` and keep it in
``tests/campaigns/fuzz_repro/<target>/``). Exit status 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

_STAT_RE = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
_COV_RE = re.compile(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def _targets() -> list[str]:
    sys.path.insert(0, str(REPO))
    from tests.campaigns import fuzz

    return sorted(fuzz.TARGETS)


def run_target(name: str, args: argparse.Namespace) -> dict[str, Any]:
    work = args.workdir / name
    corpus, artifacts, findings = work / "corpus", work / "artifacts", work / "findings"
    # a report counts this run's findings only: an earlier run's (in a reused --workdir) are
    # moved aside, and replayed as corpus like every other input
    earlier = work / f"earlier-{time.strftime('%Y%m%dT%H%M%S')}"
    for d in (artifacts, findings):
        if d.is_dir() and any(d.iterdir()):
            earlier.mkdir(parents=True, exist_ok=True)
            d.rename(earlier / d.name)
    for d in (corpus, artifacts, findings):
        d.mkdir(parents=True, exist_ok=True)
    for old in earlier.glob("*/*") if earlier.is_dir() else ():
        if old.is_file() and old.suffix != ".json":
            shutil.copy(old, corpus / f"earlier-{old.name}")
    log_path = work / "fuzz.log"
    cpu = wall = 0.0
    peak_kb = 0
    execs = 0
    slowest = 0
    children: list[dict[str, Any]] = []
    cov = ft = corp = None
    start = time.monotonic()
    max_wall = args.seconds * args.max_wall_factor + 60
    with open(log_path, "ab") as log:
        while cpu < args.seconds and time.monotonic() - start < max_wall:
            remaining = max(1, math.ceil(args.seconds - cpu))
            cmd = [
                sys.executable,
                "-m",
                "tests.campaigns.fuzz",
                name,
                "--seconds",
                str(remaining),
                "--keep-going",
                "--corpus",
                str(corpus),
                "--artifacts",
                str(artifacts),
                "--findings",
                str(findings),
                "--timeout",
                str(args.wall_timeout),
                "--cpu-timeout",
                str(args.timeout),
                "--stats",
                str(work / "unit_stats.json"),
                "--rss-limit-mb",
                str(args.rss_limit_mb),
                "--work",
                str(work / "scratch"),
            ]
            before = set(os.listdir(artifacts))
            t0 = time.monotonic()
            err_path = work / "child.err"
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
                _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            dt = time.monotonic() - t0
            text = err_path.read_text(errors="replace")
            log.write(text.encode())
            c_cpu = ru.ru_utime + ru.ru_stime
            cpu += c_cpu
            wall += dt
            peak_kb = max(peak_kb, ru.ru_maxrss)
            stats = {k: int(v) for k, v in _STAT_RE.findall(text)}
            execs += stats.get("number_of_executed_units", 0)
            slowest = max(slowest, stats.get("slowest_unit_time_sec", 0))
            m = _COV_RE.findall(text)
            if m:
                cov, ft, corp = (int(x) for x in m[-1])
            new = sorted(set(os.listdir(artifacts)) - before)
            children.append(
                {
                    "rc": proc.returncode,
                    "cpu_s": round(c_cpu, 2),
                    "wall_s": round(dt, 2),
                    "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
                    "execs": stats.get("number_of_executed_units", 0),
                    "artifacts": new,
                }
            )
            if proc.returncode != 0 and not new:
                # died before libFuzzer could write an artifact (import error, ...): report it
                children[-1]["stderr_tail"] = text[-3000:]
                break
            if len(children) >= args.max_children:
                break
    # findings
    out_repro = args.repro_out / name
    found: list[dict[str, Any]] = []
    for j in sorted(findings.glob("*.json")):
        info = json.loads(j.read_text())
        found.append(
            {
                "kind": {"Hang": "hang", "ForbiddenDecoder": "forbidden-decoder"}.get(
                    info["exception"], "traceback"
                ),
                "signature": info["signature"],
                "message": info["message"][:300],
                "input": str(findings / info["input"]),
            }
        )
    for a in sorted(artifacts.iterdir()):
        kind = a.name.split("-", 1)[0]
        label = {
            "timeout": "hang",
            "oom": "memory",
            "crash": "crash",
            "leak": "leak",
            "slow": "slow",
        }.get(kind, kind)
        found.append({"kind": label, "signature": a.name, "message": "", "input": str(a)})
    if found:
        out_repro.mkdir(parents=True, exist_ok=True)
        for f in found:
            src = Path(f["input"])
            if src.is_file():
                dst = out_repro / src.name
                shutil.copy(src, dst)
                f["input"] = str(dst)
    if peak_kb / 1024 >= args.rss_limit_mb and not any(f["kind"] == "memory" for f in found):
        # libFuzzer samples RSS once a second: a short spike can pass it, wait4's peak cannot
        found.append(
            {
                "kind": "memory",
                "signature": "peak-rss",
                "message": f"a child peaked at {peak_kb / 1024:.0f} MB (input not known)",
                "input": "",
            }
        )
    kinds = [f["kind"] for f in found]
    unit_stats = work / "unit_stats.json"
    slowest_cpu = (
        json.loads(unit_stats.read_text())["slowest_unit_cpu_s"] if unit_stats.is_file() else 0
    )
    return {
        "target": name,
        "cpu_s": round(cpu, 1),
        "cpu_min": round(cpu / 60, 2),
        "wall_s": round(wall, 1),
        "execs": execs,
        "execs_per_cpu_s": round(execs / cpu, 1) if cpu else 0,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "slowest_unit_s": slowest,
        "slowest_unit_cpu_s": slowest_cpu,
        "coverage": {"cov": cov, "ft": ft, "corpus": corp},
        "children": children,
        "tracebacks": kinds.count("traceback"),
        "forbidden_decoders": kinds.count("forbidden-decoder"),
        "hangs": kinds.count("hang"),
        "memory": kinds.count("memory"),
        "crashes": kinds.count("crash"),
        "findings": found,
        "log": str(log_path),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.campaigns.fuzz_all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--seconds", type=int, default=60, help="CPU seconds per target")
    ap.add_argument("--out", type=Path, help="JSON report (default: print it)")
    ap.add_argument("--targets", nargs="*", help="default: every target")
    ap.add_argument("--jobs", type=int, default=1, help="targets run at the same time")
    ap.add_argument("--workdir", type=Path, help="corpora/artifacts (default: a temp folder)")
    ap.add_argument("--repro-out", type=Path, help="copies of finding inputs")
    ap.add_argument("--timeout", type=float, default=5, help="hang: CPU-seconds per input")
    ap.add_argument(
        "--wall-timeout",
        type=int,
        default=30,
        help="libFuzzer's wall-clock backstop per input (blocking reads use no CPU)",
    )
    ap.add_argument("--rss-limit-mb", type=int, default=1024)
    ap.add_argument("--max-wall-factor", type=float, default=4.0)
    ap.add_argument("--max-children", type=int, default=20)
    args = ap.parse_args(argv)
    names = args.targets or _targets()
    unknown = sorted(set(names) - set(_targets()))
    if unknown:
        ap.error(f"unknown targets: {', '.join(unknown)}")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="gs-fuzz-all-")
        args.workdir = Path(tmp)
    if args.repro_out is None:
        args.repro_out = args.workdir / "finding_inputs"
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda n: run_target(n, args), names))
    import atheris  # noqa: F401 - the version goes into the report

    try:
        from importlib.metadata import version

        atheris_version = version("atheris")
    except Exception:
        atheris_version = "?"
    report = {
        "what": "coverage-guided fuzzing (atheris/libFuzzer) of every parser of user input",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "atheris": atheris_version,
        },
        "settings": {
            "cpu_seconds_per_target": args.seconds,
            "hang_cpu_s_per_input": args.timeout,
            "hang_wall_s_per_input": args.wall_timeout,
            "rss_limit_mb": args.rss_limit_mb,
            "jobs": args.jobs,
        },
        "totals": {
            "targets": len(results),
            "cpu_min": round(sum(r["cpu_s"] for r in results) / 60, 1),
            "min_cpu_min_per_target": min((r["cpu_min"] for r in results), default=0),
            "execs": sum(r["execs"] for r in results),
            "tracebacks": sum(r["tracebacks"] for r in results),
            "forbidden_decoders": sum(r["forbidden_decoders"] for r in results),
            "hangs": sum(r["hangs"] for r in results),
            "memory": sum(r["memory"] for r in results),
            "crashes": sum(r["crashes"] for r in results),
            "max_peak_rss_mb": max((r["peak_rss_mb"] for r in results), default=0),
            "slowest_unit_s": max((r["slowest_unit_s"] for r in results), default=0),
            "slowest_unit_cpu_s": max((r["slowest_unit_cpu_s"] for r in results), default=0),
        },
        "targets": results,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    else:
        print(text)
    for r in results:
        print(
            f"{r['target']:18s} cpu {r['cpu_min']:6.2f} min  execs {r['execs']:>9}  "
            f"rss {r['peak_rss_mb']:6.1f} MB  tracebacks {r['tracebacks']} hangs {r['hangs']} "
            f"memory {r['memory']} crashes {r['crashes']}",
            file=sys.stderr,
        )
    kinds = ("tracebacks", "forbidden_decoders", "hangs", "memory", "crashes")
    bad = sum(report["totals"][k] for k in kinds)
    if tmp is not None and not bad:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
