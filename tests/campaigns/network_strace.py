"""Network campaign (issue 11, defect 2): GenStudio never goes online, proven with strace.

Runs, each under ``strace -f -ttt -e trace=%network,openat`` (every thread and child process):

(a) a full CLI session, one real ``genstudio`` process per step: project new, generate sprite
    (procedural and SpriteNet) with Aseprite + Godot export, generate image (built-in model),
    generate music (with WAV), gallery list / search, a short bench, doctor; the image
    step keeps its process (and onnxruntime) alive until onnxruntime has been loaded for
    ``--hold`` seconds (:mod:`tests.campaigns.network_hold`), because the telemetry issue 11
    found resolves its host about 9 s after the import;
(b) a studio session: the real main window offscreen, Generate pressed in the Images, Music
    and Sprites panels, through the studio's job path (:mod:`tests.campaigns.network_studio`),
    open until onnxruntime has been loaded for ``--hold`` seconds.

Every ``socket``/``socketpair``/``connect``/``sendto``/``sendmsg``/``sendmmsg``/``bind``/
``accept`` is classified by address family (from its arguments, or from the ``socket()`` that
made its descriptor). Only ``AF_UNIX`` is allowed - no AF_INET, AF_INET6, AF_NETLINK, AF_PACKET
or anything else. It also checks that onnxruntime wrote nothing under the session's
``XDG_CACHE_HOME`` (its telemetry keeps a device id and an event store there).

The traced ``genstudio`` is the one of the checkout this file is in (``PYTHONPATH``), so a copy
of the tree with the fix undone shows the failure.

``ORT_DISABLE_TELEMETRY`` is removed from the environment of every traced command: the product
must switch the telemetry off itself. ``--source DIR`` traces another checkout's ``genstudio``
(e.g. the code before the fix) with this checkout's campaign scripts.

    .venv/bin/python -m tests.campaigns.network_strace --out report.json [--hold 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ALLOWED_FAMILIES = frozenset({"AF_UNIX"})
CHECKED_CALLS = frozenset(
    {
        "socket",
        "socketpair",
        "connect",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "bind",
        "accept",
        "accept4",
    }
)
STRACE_ARGS = ("-f", "-ttt", "-s", "64", "-e", "trace=%network,openat")
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"

_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+\.\d+)\s+(.*)$")
_CALL = re.compile(r"^([a-z_0-9]+)\((.*)$")
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")
_RET = re.compile(r"\)\s+=\s+(-?\d+)")
_FAMILY = re.compile(r"sa_family=(AF_[A-Z0-9]+)")
_FIRST_ARG_FAMILY = re.compile(r"^(AF_[A-Z0-9]+|PF_[A-Z0-9]+)")
_FIRST_ARG_FD = re.compile(r"^(\d+)\b")
#: the native part of onnxruntime (the pybind module, its provider bridge, the C library)
_ORT_LIB = re.compile(r'/onnxruntime/capi/[^"]*\.so[."]')
_PAIR = re.compile(r"\[(\d+),\s*(\d+)\]\)\s+=\s+0")


# --- parsing ----------------------------------------------------------------------------------


def _family_name(raw: str) -> str:
    return "AF_UNIX" if raw in ("AF_LOCAL", "PF_LOCAL", "PF_UNIX") else raw.replace("PF_", "AF_")


def parse_strace(text: str) -> dict[str, Any]:
    """Classify every socket call of an ``strace -f -ttt`` log by address family.

    Returns ``{"calls": {call: {family: n}}, "violations": n, "examples": [...],
    "onnxruntime_loaded_at": t | None, "first_ts", "last_ts"}``. A call whose family cannot
    be told (an unknown descriptor) counts as ``"unknown"``, a violation.
    """
    pending: dict[str, str] = {}
    fd_family: dict[tuple[str, int], str] = {}
    fd_family_any: dict[int, str] = {}
    calls: dict[str, Counter[str]] = defaultdict(Counter)
    examples: list[str] = []
    violations = 0
    ort_at: float | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, ts, body = m.group(1), float(m.group(2)), m.group(3)
        first_ts = ts if first_ts is None else first_ts
        last_ts = ts
        if body.endswith(_UNFINISHED):
            pending[pid] = body[: -len(_UNFINISHED)]
            continue
        r = _RESUMED.match(body)
        if r:
            start = pending.pop(pid, None)
            if start is None:
                body = f"{r.group(1)}({r.group(2)}"
            else:
                body = start + r.group(2)
        c = _CALL.match(body)
        if not c:
            continue
        name, rest = c.group(1), c.group(2)
        if name == "openat":
            if ort_at is None and _ORT_LIB.search(rest):
                ret = _RET.search(rest)
                if ret and int(ret.group(1)) >= 0:
                    ort_at = ts
            continue
        if name not in CHECKED_CALLS:
            continue
        ret = _RET.search(rest)
        retval = int(ret.group(1)) if ret else None
        family = None
        if name in ("socket", "socketpair"):
            fm = _FIRST_ARG_FAMILY.match(rest)
            family = _family_name(fm.group(1)) if fm else "unknown"
            if name == "socket" and retval is not None and retval >= 0:
                fd_family[(pid, retval)] = fd_family_any[retval] = family
            elif name == "socketpair":
                pm = _PAIR.search(rest)
                if pm:
                    for fd in (int(pm.group(1)), int(pm.group(2))):
                        fd_family[(pid, fd)] = fd_family_any[fd] = family
        else:
            fa = _FAMILY.search(rest)
            fdm = _FIRST_ARG_FD.match(rest)
            fd = int(fdm.group(1)) if fdm else -1
            if fa:
                family = _family_name(fa.group(1))
            else:
                family = fd_family.get((pid, fd)) or fd_family_any.get(fd) or "unknown"
            if name in ("accept", "accept4") and retval is not None and retval >= 0:
                fd_family[(pid, retval)] = fd_family_any[retval] = family
        calls[name][family] += 1
        if family not in ALLOWED_FAMILIES:
            violations += 1
            if len(examples) < 20:
                examples.append(raw[:240])
    return {
        "calls": {k: dict(sorted(v.items())) for k, v in sorted(calls.items())},
        "violations": violations,
        "examples": examples,
        "onnxruntime_loaded_at": ort_at,
        "first_ts": first_ts,
        "last_ts": last_ts,
    }


def inet_counts(parsed: dict[str, Any]) -> dict[str, int]:
    """connect/sendto/sendmsg/sendmmsg/socket counts on AF_INET + AF_INET6 (the issue's target)."""
    out: dict[str, int] = {}
    for call in ("socket", "connect", "sendto", "sendmsg", "sendmmsg"):
        fam = parsed["calls"].get(call, {})
        out[call] = int(fam.get("AF_INET", 0) + fam.get("AF_INET6", 0))
    return out


# --- running ----------------------------------------------------------------------------------


def strace_available() -> str | None:
    """Why strace cannot be used here, or None when it can (installed and allowed to trace)."""
    exe = shutil.which("strace")
    if exe is None:
        return (
            "strace is not installed (./bootstrap.sh test installs it; or apt-get install strace)"
        )
    try:
        p = subprocess.run(
            [exe, "-f", "-e", "trace=%network", "-o", os.devnull, "true"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"strace does not run here: {e}"
    if p.returncode != 0:
        return f"strace cannot trace here (ptrace refused?): {p.stderr.strip()[-200:]}"
    return None


def _cli() -> list[str]:
    """The ``genstudio`` command of this interpreter (which ``genstudio`` package it runs is
    decided by ``PYTHONPATH``, see :func:`_env`)."""
    script = Path(sys.executable).with_name("genstudio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "genstudio"]


def _env(work: Path, source: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(TELEMETRY_ENV, None)  # the product must switch the telemetry off itself
    env.update(
        GENSTUDIO_CONFIG_DIR=str(work / "config"),
        GENSTUDIO_DATA_DIR=str(work / "data"),
        XDG_CACHE_HOME=str(work / "cache"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONUNBUFFERED="1",
    )
    # the genstudio of ``source``, or of the checkout this file is in - not whichever one the
    # environment happens to have installed
    source = source or REPO
    if not (source / "resources").is_dir():
        env.setdefault("GENSTUDIO_RESOURCES", str(REPO / "resources"))  # the shipped packs
    env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _traced(
    name: str, argv: list[str], work: Path, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    log = work / "strace" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            ["strace", *STRACE_ARGS, "-o", str(log), "--", *argv],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        rc, stdout, stderr = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, stdout, stderr = -1, str(e.stdout or ""), f"timed out after {timeout:.0f} s"
    parsed = parse_strace(log.read_text(encoding="utf-8", errors="replace"))
    stdout, stderr = stdout.replace(str(work), "$WORK"), stderr.replace(str(work), "$WORK")
    try:  # the studio driver's one JSON line
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = None
    ort_at, last = parsed.pop("onnxruntime_loaded_at"), parsed.pop("last_ts")
    parsed.pop("first_ts")
    return {
        "step": name,
        "argv": [a if not a.startswith(str(work)) else a.replace(str(work), "$WORK") for a in argv],
        "rc": rc,
        "seconds": round(time.monotonic() - t0, 2),
        "onnxruntime_loaded_s": round(last - ort_at, 2) if ort_at is not None and last else 0.0,
        **parsed,
        "inet": inet_counts(parsed),
        "result": result if isinstance(result, dict) else None,
        "stdout_tail": stdout[-400:],
        "stderr_tail": stderr[-800:] if rc != 0 else "",
    }


def cli_steps(work: Path, cli: list[str], hold: float) -> list[tuple[str, list[str]]]:
    p, out = str(work / "Project"), work / "out"
    hold_cmd = [sys.executable, str(HERE / "network_hold.py"), "--hold", str(hold), "--"]
    return [
        ("project_new", [*cli, "project", "new", p, "--name", "Offline"]),
        (
            "generate_sprite_export",
            [
                *cli,
                "generate",
                "sprite",
                "--prompt",
                "knight with a sword",
                "--seed",
                "3",
                "--count",
                "2",
                "--format",
                "aseprite",
                "--format",
                "godot",
                "--format",
                "frames",
                "--out",
                str(out / "sprites"),
                "--project",
                p,
            ],
        ),
        (
            "generate_sprite_spritenet",
            [
                *cli,
                "generate",
                "sprite",
                "--model",
                "sprites.spritenet",
                "--prompt",
                "mage",
                "--seed",
                "4",
                "--count",
                "2",
                "--out",
                str(out / "spritenet"),
                "--project",
                p,
            ],
        ),
        (
            "generate_image_builtin_held",
            [
                *hold_cmd,
                "generate",
                "image",
                "--prompt",
                "red apple",
                "--seed",
                "5",
                "--count",
                "2",
                "--steps",
                "8",
                "--pixel-art",
                "32",
                "--out",
                str(out / "images"),
                "--project",
                p,
            ],
        ),
        (
            "generate_music",
            [
                *cli,
                "generate",
                "music",
                "--bars",
                "4",
                "--seed",
                "6",
                "--wav",
                "--out",
                str(out / "music"),
                "--project",
                p,
            ],
        ),
        ("gallery_list", [*cli, "gallery", "list", p, "--json"]),
        ("gallery_search", [*cli, "gallery", "search", p, "apple"]),
        ("bench_gallery", [*cli, "bench", "gallery", "--assets", "200"]),
        ("doctor", [*cli, "doctor"]),  # starts a session on every listed provider
    ]


def run_campaign(
    *,
    hold: float = 20.0,
    source: Path | None = None,
    work: Path | None = None,
    studio: bool = True,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run (a) and (b); return the report (``ok`` is the verdict)."""
    why = strace_available()
    if why:
        raise RuntimeError(why)
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="genstudio-net-")
        work = Path(tmp.name)
    try:
        env = _env(work, source)
        cli = _cli()
        steps = [
            _traced(name, argv, work, env, timeout) for name, argv in cli_steps(work, cli, hold)
        ]
        for r in steps:
            del r["result"]
        studio_rows: list[dict[str, Any]] = []
        if studio:
            argv = [
                sys.executable,
                str(HERE / "network_studio.py"),
                str(work / "Studio"),
                "--hold",
                str(hold),
            ]
            row = _traced("studio_session", argv, work, env, timeout)
            row["studio"] = row.pop("result")
            studio_rows.append(row)
        cache = work / "cache"
        ort_files = (
            sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
            if cache.exists()
            else []
        )
        rows = steps + studio_rows
        total_inet: Counter[str] = Counter()
        for r in rows:
            total_inet.update(r["inet"])
        report = {
            "what": "issue 11 defect 2: strace over a full CLI session and a studio session",
            "strace": " ".join(["strace", *STRACE_ARGS]),
            "allowed_families": sorted(ALLOWED_FAMILIES),
            "hold_s": hold,
            "source": str(source) if source else "this checkout",
            "machine": {"python": platform.python_version(), "cores": os.cpu_count()},
            "steps": rows,
            "totals": {
                "inet": dict(total_inet),
                "violations": sum(r["violations"] for r in rows),
                "failed_steps": [r["step"] for r in rows if r["rc"] != 0],
                "max_onnxruntime_loaded_s_cli": max(
                    (r["onnxruntime_loaded_s"] for r in steps), default=0.0
                ),
                "studio_onnxruntime_loaded_s": max(
                    (r["onnxruntime_loaded_s"] for r in studio_rows), default=0.0
                ),
                "cache_files_written": ort_files,
            },
        }
        t = report["totals"]
        report["ok"] = bool(
            t["violations"] == 0
            and not t["failed_steps"]
            and not ort_files
            and t["max_onnxruntime_loaded_s_cli"] >= hold
            and (not studio or t["studio_onnxruntime_loaded_s"] >= hold)
            and all(bool(r["studio"] and r["studio"].get("ok")) for r in studio_rows)
        )
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the JSON report here")
    ap.add_argument(
        "--hold",
        type=float,
        default=20.0,
        help="seconds onnxruntime stays loaded in the held CLI step and the studio",
    )
    ap.add_argument("--source", type=Path, help="trace this checkout's genstudio instead")
    ap.add_argument("--work", type=Path, help="keep the projects and strace logs here")
    ap.add_argument("--no-studio", action="store_true")
    ap.add_argument("--baseline-label", help="what --baseline is, for the report")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="also trace this checkout (e.g. the code before the fix) and add its totals to the "
        "report as 'baseline' (expected to fail; does not change the verdict)",
    )
    args = ap.parse_args(argv)
    try:
        report = run_campaign(
            hold=args.hold, source=args.source, work=args.work, studio=not args.no_studio
        )
        if args.baseline:
            base = run_campaign(
                hold=args.hold,
                source=args.baseline,
                work=args.work / "baseline" if args.work else None,
                studio=not args.no_studio,
            )
            report["baseline"] = {
                "source": args.baseline_label or base["source"],
                "ok": base["ok"],
                "totals": base["totals"],
                "per_step_inet": {s["step"]: s["inet"] for s in base["steps"]},
            }
    except RuntimeError as e:
        print(f"network campaign: {e}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if args.out:
        from genstudio.core.atomic import atomic_write_text

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text + "\n")
    t = report["totals"]
    print(
        f"network campaign: {len(report['steps'])} traced commands, "
        f"AF_INET/AF_INET6 {t['inet']}, violations {t['violations']}, failed steps "
        f"{t['failed_steps'] or 'none'}, onnxruntime loaded up to "
        f"{t['max_onnxruntime_loaded_s_cli']:.1f} s (CLI) / "
        f"{t['studio_onnxruntime_loaded_s']:.1f} s (studio), cache files {len(t['cache_files_written'])}"
        f" -> {'OK' if report['ok'] else 'FAILED'}"
    )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
