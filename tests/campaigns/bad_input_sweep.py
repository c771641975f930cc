"""Bad-input sweep through the real CLI (issue 11): sizes, names, encodings, devices, FIFOs,
read-only and full disks. Every case runs ``genstudio`` in a fresh subprocess (what a user
runs) and must end with: no traceback, no hang (30 s), a non-zero exit, and a message that says
what is wrong (an ``error:`` line) and what to do (a hint line) - or argparse's usage line.

    python -m tests.campaigns.bad_input_sweep --out docs/campaigns/bad-input-sweep.json

Read-only and full disks are real tmpfs mounts when this runs as root (``mount -t tmpfs``);
otherwise those cases are reported as skipped. ``tests/test_bad_input_sweep.py`` runs a part
of the list in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30
STATES_ACCEPTED = re.compile(r"\bmust be\b|\bone of\b|\bup to\b|\bat most\b|\bat least\b")


@dataclass
class Case:
    name: str
    argv: list[str]
    expect_ok: bool = False  # the command must succeed (and say what it did instead)
    must_say: str = ""  # a phrase the output must hold
    needs: str = ""  # "root" for the mount cases


@dataclass
class Result:
    name: str
    argv: list[str]
    rc: int | None
    seconds: float
    ok: bool
    why: str = ""
    message: str = ""
    extra: dict = field(default_factory=dict)


def _png(w: int, h: int, body: bytes | None = None) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    raw = body if body is not None else zlib.compress(b"\0" * (h * (1 + 4 * w)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _midi_huge_deltas() -> bytes:
    track = b"".join(b"\xff\xff\xff\x7f\x90\x3c\x64\x00\x80\x3c\x00" for _ in range(200))
    track += b"\x00\xff\x2f\x00"
    head = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x01"
    return head + b"MTrk" + len(track).to_bytes(4, "big") + track


def _midi_ok() -> bytes:
    track = b"\x00\x90\x3c\x64\x83\x60\x80\x3c\x00\x00\xff\x2f\x00"
    head = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"
    return head + b"MTrk" + len(track).to_bytes(4, "big") + track


@contextlib.contextmanager
def _mount(path: Path, opts: str) -> Iterator[bool]:
    path.mkdir(parents=True, exist_ok=True)
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        yield False
        return
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
    )
    if r.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def build_files(d: Path) -> dict[str, Path]:
    f: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        f[name] = d / name
        f[name].write_bytes(data)

    put("eps.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n{ } loop\nshowpage\n")
    put("random.gpl", os.urandom(4096))
    put("random.png", os.urandom(4096))
    put("bomb.png", _png(60000, 60000, zlib.compress(b"\0" * 1000)))
    put("truncated.png", _png(64, 64)[:60])
    put("big.hex", b"ffffff\n" * (17 * 1024 * 1024 // 7 + 10))
    put("empty.gpl", b"")
    put(
        "many.gpl",
        b"GIMP Palette\n" + b"".join(f"{i % 256} {i // 256} 0\n".encode() for i in range(2000)),
    )
    put("random.mid", os.urandom(3000))
    put("truncated.mid", _midi_ok()[:30])
    put("huge_deltas.mid", _midi_huge_deltas())
    put("ok.mid", _midi_ok())
    put("random.sf2", os.urandom(5000))
    put("mask_small.png", _png(3, 7))
    put("init.png", _png(64, 64))
    put("file.txt", b"just a file\n")
    cp = d / "corrupt_project"
    cp.mkdir()
    (cp / "project.json").write_text("{ not json")
    f["corrupt_project"] = cp
    newer = d / "newer_project"
    newer.mkdir()
    (newer / "project.json").write_text(
        json.dumps({"format": "genstudio.project", "schema_version": 999, "name": "N"})
    )
    f["newer_project"] = newer
    fifo = d / "pipe.png"
    os.mkfifo(fifo)
    f["fifo"] = fifo
    f["fifo.mid"] = d / "pipe.mid"
    os.mkfifo(f["fifo.mid"])
    f["fifo.gpl"] = d / "pipe.gpl"
    os.mkfifo(f["fifo.gpl"])
    f["dir"] = d / "a_folder"
    f["dir"].mkdir()
    return f


def cases(d: Path, f: dict[str, Path]) -> list[Case]:
    o = str(d / "out")
    long = "x" * 300
    sp = ["generate", "sprite", "--prompt", "knight", "--out", o]
    im = ["generate", "image", "--prompt", "red apple", "--steps", "2", "--out", o]
    mu = ["generate", "music", "--bars", "2", "--out", o]
    bad_utf8 = "kni\udcffght"
    c = [
        # --- sprites: sizes and numbers
        Case("sprite size 7", [*sp, "--size", "7"]),
        Case("sprite count 0", [*sp, "--count", "0"]),
        Case("sprite count 1e9", [*sp, "--count", "1000000000"]),
        Case("sprite seed -1", [*sp, "--seed", "-1"]),
        Case("sprite seed 2^70", [*sp, "--seed", str(2**70)]),
        Case("sprite colors 1", [*sp, "--colors", "1"]),
        Case("sprite colors 1e6", [*sp, "--colors", "1000000"]),
        Case("sprite scale 0", [*sp, "--scale", "0"]),
        Case("sprite scale 99", [*sp, "--scale", "99"]),
        Case("sprite seed text", [*sp, "--seed", "abc"]),
        Case("sprite prompt 100k chars", [*sp[:3], "knight " * 15000, *sp[4:]]),
        Case("sprite attr junk", [*sp, "--attr", "nonsense"]),
        Case("sprite attr unknown value", [*sp, "--attr", "hair_color=neon-plaid"]),
        Case("sprite attr unknown key", [*sp, "--attr", "wings=3"]),
        Case("sprite unknown model", [*sp, "--model", "sprites.nope"]),
        Case("sprite prompt invalid utf-8", [*sp[:3], bad_utf8, *sp[4:]]),
        # --- sprites: palette files
        Case("palette /dev/zero", [*sp, "--palette", "/dev/zero"]),
        Case("palette FIFO", [*sp, "--palette", str(f["fifo.gpl"])]),
        Case("palette FIFO named .png", [*sp, "--palette", str(f["fifo"])]),
        Case("palette missing", [*sp, "--palette", str(d / "nope.gpl")]),
        Case("palette folder", [*sp, "--palette", str(f["dir"])]),
        Case("palette EPS named .png", [*sp, "--palette", str(f["eps.png"])]),
        Case("palette random .gpl", [*sp, "--palette", str(f["random.gpl"])]),
        Case("palette random .png", [*sp, "--palette", str(f["random.png"])]),
        Case("palette bomb .png", [*sp, "--palette", str(f["bomb.png"])]),
        Case("palette 17 MB .hex", [*sp, "--palette", str(f["big.hex"])]),
        Case("palette empty", [*sp, "--palette", str(f["empty.gpl"])]),
        Case("palette 2000 colours", [*sp, "--palette", str(f["many.gpl"])]),
        Case("palette /dev/zero (image)", [*im, "--pixel-art", "32", "--palette", "/dev/zero"]),
        Case("palette EPS (image)", [*im, "--pixel-art", "32", "--palette", str(f["eps.png"])]),
        # --- output folders and projects: names
        Case("out 300-char name", [*sp[:4], "--out", str(d / long)]),
        Case("out is a file", [*sp[:4], "--out", str(f["file.txt"])]),
        Case("out under a file", [*sp[:4], "--out", str(f["file.txt"] / "sub")]),
        Case("out /dev/null/x", [*sp[:4], "--out", "/dev/null/x"]),
        Case("project missing", [*sp, "--project", str(d / "nope")]),
        Case("project is a file", [*sp, "--project", str(f["file.txt"])]),
        Case("project corrupt json", [*sp, "--project", str(f["corrupt_project"])]),
        Case("project new 300-char name", ["project", "new", str(d / long)]),
        Case("project new 300-char --name", ["project", "new", str(d / "P1"), "--name", long * 4]),
        Case("project new under a file", ["project", "new", str(f["file.txt"] / "P")]),
        Case("project new on a file", ["project", "new", str(f["file.txt"])]),
        Case(
            "project new invalid utf-8 name", ["project", "new", str(d / "P2"), "--name", bad_utf8]
        ),
        Case(
            "project new invalid utf-8 path",  # a legal folder name on Linux: it works
            ["project", "new", str(d / bad_utf8)],
            expect_ok=True,
            must_say="Created project",
        ),
        Case("project info missing", ["project", "info", str(d / "nope")]),
        Case("project info a file", ["project", "info", str(f["file.txt"])]),
        Case("project info /dev/zero", ["project", "info", "/dev/zero"]),
        Case(
            "gallery list corrupt project.json",
            ["gallery", "list", str(f["corrupt_project"])],
            expect_ok=True,  # a damaged project opens read-only, with the reason
            must_say="read-only",
        ),
        Case(
            "gallery list project from a newer GenStudio",
            ["gallery", "list", str(f["newer_project"])],
            expect_ok=True,
            must_say="read-only",
        ),
        Case("gallery list limit 2^70", ["gallery", "list", str(d), "--limit", str(2**70)]),
        Case("gallery list limit -1", ["gallery", "list", str(d), "--limit", "-1"]),
        Case("gallery search invalid utf-8", ["gallery", "search", str(d), bad_utf8]),
        # --- images
        Case("image steps 0", [*im, "--steps", "0"]),
        Case("image steps 1e6", [*im, "--steps", "1000000"]),
        Case("image guidance nan", [*im, "--guidance", "nan"]),
        Case("image guidance inf", [*im, "--guidance", "inf"]),
        Case("image strength 5", [*im, "--init", str(f["init.png"]), "--strength", "5"]),
        Case("image width 3 (SD)", [*im, "--width", "3"]),
        Case("image count 1e6", [*im, "--count", "1000000"]),
        Case("image empty prompt", ["generate", "image", "--prompt", "", "--out", o]),
        Case("image prompt invalid utf-8", ["generate", "image", "--prompt", bad_utf8, "--out", o]),
        Case("image scheduler bogus", [*im, "--scheduler", "bogus"]),
        Case("image model missing folder", [*im, "--model", str(d / "nope")]),
        Case("image model a file", [*im, "--model", str(f["file.txt"])]),
        Case("image model empty folder", [*im, "--model", str(f["dir"])]),
        Case("image init /dev/zero", [*im, "--init", "/dev/zero"]),
        Case("image init FIFO", [*im, "--init", str(f["fifo"])]),
        Case("image init EPS", [*im, "--init", str(f["eps.png"])]),
        Case("image init truncated", [*im, "--init", str(f["truncated.png"])]),
        Case("image init bomb", [*im, "--init", str(f["bomb.png"])]),
        Case("image init random", [*im, "--init", str(f["random.png"])]),
        Case(
            "image mask wrong shape",
            [*im, "--init", str(f["init.png"]), "--mask", str(f["mask_small.png"])],
        ),
        Case("image mask FIFO", [*im, "--init", str(f["init.png"]), "--mask", str(f["fifo"])]),
        Case("image pixel-art 1", [*im, "--pixel-art", "1"]),
        Case("image pixel-art colors 1", [*im, "--pixel-art", "32", "--colors", "1"]),
        Case("image upscale 3", [*im, "--upscale", "3"]),
        # --- music
        Case("music bars 0", [*mu, "--bars", "0"]),
        Case("music bars 1e6", [*mu, "--bars", "1000000"]),
        Case("music tempo 0", [*mu, "--tempo", "0"]),
        Case("music tempo nan", [*mu, "--tempo", "nan"]),
        Case("music key H major", [*mu, "--key", "H major"]),
        Case("music meter 8/0", [*mu, "--time-signature", "8/0"]),
        Case("music meter 99/4", [*mu, "--time-signature", "99/4"]),
        Case("music meter text", [*mu, "--time-signature", "waltz"]),
        Case("music temperature -1", [*mu, "--temperature", "-1"]),
        Case("music temperature nan", [*mu, "--temperature", "nan"]),
        Case("music top-p 2", [*mu, "--top-p", "2"]),
        Case("music top-k -1", [*mu, "--top-k", "-1"]),
        Case("music count 1e6", [*mu, "--count", "1000000"]),
        Case("music key invalid utf-8", [*mu, "--key", "D\udcff major"]),
        Case("music continue no input", [*mu, "--mode", "continue"]),
        Case("music continue /dev/zero", [*mu, "--mode", "continue", "--input", "/dev/zero"]),
        Case("music continue FIFO", [*mu, "--mode", "continue", "--input", str(f["fifo.mid"])]),
        Case("music continue random", [*mu, "--mode", "continue", "--input", str(f["random.mid"])]),
        Case(
            "music continue truncated",
            [*mu, "--mode", "continue", "--input", str(f["truncated.mid"])],
        ),
        Case(
            "music continue huge deltas",
            [*mu, "--mode", "continue", "--input", str(f["huge_deltas.mid"])],
        ),
        Case(
            "music drums huge deltas",
            [*mu, "--mode", "drums", "--input", str(f["huge_deltas.mid"])],
        ),
        Case(
            "music variations missing",
            [*mu, "--mode", "variations", "--input", str(d / "nope.mid")],
        ),
        Case(
            "music interpolate one input",
            [*mu, "--mode", "interpolate", "--input", str(f["ok.mid"])],
        ),
        Case(
            "music soundfont random bytes",
            [*mu, "--wav", "--soundfont", str(f["random.sf2"])],
            expect_ok=True,
            must_say="using the built-in synth",
        ),
        Case(
            "music soundfont /dev/zero",
            [*mu, "--wav", "--soundfont", "/dev/zero"],
            expect_ok=True,
            must_say="using the built-in synth",
        ),
        Case(
            "music soundfont FIFO",
            [*mu, "--wav", "--soundfont", str(f["fifo.mid"])],
            expect_ok=True,
            must_say="using the built-in synth",
        ),
        # --- models
        Case("models check missing", ["models", "check", str(d / "nope")]),
        Case("models check a file", ["models", "check", str(f["file.txt"])]),
        Case("models check empty folder", ["models", "check", str(f["dir"])]),
        Case(
            "models import /dev/zero",
            ["models", "import", "/dev/zero", "--models-dir", str(d / "m")],
        ),
        Case(
            "models import FIFO", ["models", "import", str(f["fifo"]), "--models-dir", str(d / "m")]
        ),
        Case(
            "models import empty folder",
            ["models", "import", str(f["dir"]), "--models-dir", str(d / "m")],
        ),
    ]
    return c


def disk_cases(d: Path) -> list[tuple[str, str, list[str]]]:
    """(name, mount options, argv with {M} for the mount point)."""
    sp = ["generate", "sprite", "--prompt", "knight", "--count", "4"]
    return [
        ("out on a read-only drive", "ro,size=1m", [*sp, "--out", "{M}/out"]),
        ("project new on a read-only drive", "ro,size=1m", ["project", "new", "{M}/P"]),
        ("out on a full drive", "size=8k", [*sp, "--out", "{M}/out"]),
        ("project new on a full drive", "size=8k", ["project", "new", "{M}/P"]),
        # an existing project with an asset on a drive that then fills up
        ("project info on a full drive", "size=2m", ["project", "info", "{M}/P"]),
        ("gallery list on a full drive", "size=2m", ["gallery", "list", "{M}/P"]),
        ("gallery search on a full drive", "size=2m", ["gallery", "search", "{M}/P", "knight"]),
        (
            "generate into a project on a full drive",
            "size=2m",
            [*sp, "--out", "{M}/o2", "--project", "{M}/P"],
        ),
    ]


#: disk cases that read: they must succeed (reading needs no free space)
READS = ("project info", "gallery list", "gallery search")


def run_case(case: Case, env: dict[str, str]) -> Result:
    t0 = time.perf_counter()
    argv = [sys.executable, "-m", "genstudio", *case.argv]
    try:
        # argv strings with lone surrogates go to the OS as the original bytes
        p = subprocess.run(
            [os.fsencode(a) for a in argv],
            capture_output=True,
            timeout=TIMEOUT_S,
            env=env,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return Result(case.name, case.argv, None, TIMEOUT_S, False, f"hung > {TIMEOUT_S} s")
    dt = time.perf_counter() - t0
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    text = out + err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("\r[")]
    msg = "\n".join(lines[-4:])
    why = ""
    if "Traceback" in text:
        why = "traceback"
    elif case.expect_ok:
        if p.returncode != 0:
            why = f"exit {p.returncode}"
        elif case.must_say and case.must_say not in text:
            why = f"does not say {case.must_say!r}"
    elif p.returncode == 0:
        why = "accepted (exit 0)"
    elif "usage:" in err and "error:" in err:
        pass  # argparse: the usage line says what is accepted
    else:
        err_lines = [ln for ln in lines if ln.startswith("error:")]
        if not err_lines:
            why = "no 'error:' line"
        else:
            after = lines[lines.index(err_lines[-1]) :]
            # what to do: a hint line, or a message that states the accepted values itself
            # ("Steps must be a whole number from 1 to 150, not 0.")
            if len(after) < 2 and not STATES_ACCEPTED.search(err_lines[-1]):
                why = "no hint (what to do)"
    return Result(case.name, case.argv, p.returncode, round(dt, 2), not why, why, msg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", help="substring of case names to run")
    a = ap.parse_args(argv)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUTF8="1")
    results: list[Result] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gs-sweep-") as tmp:
        d = Path(tmp)
        env["GENSTUDIO_DATA_DIR"] = str(d / "data")
        env["GENSTUDIO_CONFIG_DIR"] = str(d / "config")
        files = build_files(d)
        todo = [c for c in cases(d, files) if not a.only or a.only in c.name]
        for i, case in enumerate(todo, 1):
            r = run_case(case, env)
            results.append(r)
            flag = "ok  " if r.ok else "FAIL"
            print(f"[{i}/{len(todo)}] {flag} {case.name} ({r.seconds:.1f} s) {r.why}", flush=True)
        for name, opts, args in disk_cases(d):
            if a.only and a.only not in name:
                continue
            mnt = d / f"mnt-{len(results)}"
            with _mount(mnt, opts) as mounted:
                if not mounted:
                    skipped.append(f"{name}: needs root to mount a tmpfs")
                    continue
                if "size=2m" in opts:  # a project with an asset first
                    for pre in (
                        ["project", "new", f"{mnt}/P"],
                        ["generate", "sprite", "--prompt", "knight", "--out", f"{mnt}/o"]
                        + ["--project", f"{mnt}/P"],
                    ):
                        subprocess.run(
                            [sys.executable, "-m", "genstudio", *pre],
                            capture_output=True,
                            env=env,
                            cwd=ROOT,
                            timeout=TIMEOUT_S,
                        )
                if "size=8k" in opts or "size=2m" in opts:  # fill it
                    with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
                        while True:
                            fh.write(b"\0" * 4096)
                            fh.flush()
                reads = name.startswith(READS)
                case = Case(
                    name,
                    [x.replace("{M}", str(mnt)) for x in args],
                    expect_ok=reads,
                    must_say="1 assets" if "gallery list" in name else "",
                )
                r = run_case(case, env)
            results.append(r)
            print(f"[disk] {'ok  ' if r.ok else 'FAIL'} {name} ({r.seconds:.1f} s) {r.why}")
    report = {
        "cases": len(results),
        "passed": sum(r.ok for r in results),
        "tracebacks": sum(r.why == "traceback" for r in results),
        "hangs": sum(r.why.startswith("hung") for r in results),
        "failures": [asdict(r) for r in results if not r.ok],
        "skipped": skipped,
        "results": [asdict(r) for r in results],
    }
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=2))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return 0 if report["passed"] == report["cases"] else 1


if __name__ == "__main__":
    sys.exit(main())
