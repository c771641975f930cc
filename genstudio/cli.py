"""GenStudio's command line: the same services as the studio, from a terminal.

Every command imports what it needs inside its own function, so ``genstudio --help`` and the
window start fast. Errors a user can cause print one clear message and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from genstudio import __version__
from genstudio.core.errors import Cancelled, GenStudioError
from genstudio.core.logs import is_control as _is_control

log = logging.getLogger("genstudio")


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """A project opened for one command and always closed again."""
    from genstudio.core.project import Project

    proj = Project.open(path)
    try:
        yield proj
    finally:
        proj.close()


def _print_json(obj: Any) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    # json escapes C0 controls itself; C1 controls (e.g. 0x9b, a terminal's CSI) and lone
    # surrogates can only occur inside strings here, where \\uXXXX is the valid JSON spelling
    print("".join(f"\\u{ord(c):04x}" if _is_control(ord(c)) and c not in "\n" else c for c in text))


# --- ui -------------------------------------------------------------------------------------


def cmd_ui(args: argparse.Namespace) -> int:
    from genstudio.ui import app

    if args.smoke_test:
        return app.smoke_test()
    project = args.project
    if project is not None and project.name == "project.json" and project.is_file():
        project = project.parent  # a file manager opens a project by its project.json
    return app.main([str(project)] if project else [])


# --- doctor ---------------------------------------------------------------------------------


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _writable(path: Path) -> tuple[bool, str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".genstudio-write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
        return True, "writable"
    except OSError as e:
        return False, f"not writable: {e.strerror or e}"


def doctor_report() -> dict[str, Any]:
    import platform

    from genstudio.core import settings
    from genstudio.core.paths import shipped_models_dir
    from genstudio.runtime import packs, sessions

    report: dict[str, Any] = {
        "genstudio": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": {
            name: _dist_version(name)
            for name in (
                "numpy",
                "pillow",
                "onnxruntime",
                "onnxruntime-gpu",
                "onnx",
                "PySide6-Essentials",
                "torch",
                "safetensors",
                "sounddevice",
            )
        },
    }
    if report["packages"]["onnxruntime"] and report["packages"]["onnxruntime-gpu"]:
        report["problems"] = [
            "onnxruntime and onnxruntime-gpu are both installed; they overwrite each other. "
            "Uninstall both and install only one."
        ]
    report["providers"] = sessions.probe_providers()
    found = []
    for root in (shipped_models_dir(), settings.user_models_dir()):
        if root.is_dir():
            for p in packs.find_packs(root):
                found.append(
                    {"id": p.id, "kind": p.kind, "version": p.version, "path": str(p.root)}
                )
    report["model_packs"] = found
    report["paths"] = {}
    for label, path in (
        ("config", settings.config_dir()),
        ("data", settings.data_dir()),
        ("projects", settings.default_projects_dir()),
    ):
        ok, msg = _writable(path)
        report["paths"][label] = {"path": str(path), "ok": ok, "status": msg}
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    if args.json:
        _print_json(report)
        return 0
    print(f"GenStudio {report['genstudio']} on Python {report['python']} ({report['platform']})")
    print(f"CPU cores: {report['cpu_count']}")
    for name, ver in report["packages"].items():
        print(f"  {name:20s} {ver or '-'}")
    print("Execution providers (a session was really started on each):")
    for prov in report["providers"]:
        state = "works" if prov["works"] else f"FAILS: {prov['message']}"
        print(f"  {prov['provider']:28s} {state}")
    print(f"Model packs: {len(report['model_packs'])}")
    for p in report["model_packs"]:
        print(f"  {p['id']} ({p['kind']} {p['version']}) {p['path']}")
    print("Paths:")
    for label, info in report["paths"].items():
        print(f"  {label:9s} {info['path']}  [{info['status']}]")
    for problem in report.get("problems", []):
        print(f"PROBLEM: {problem}")
    return 0


# --- project / gallery ----------------------------------------------------------------------


def cmd_project_new(args: argparse.Namespace) -> int:
    from genstudio.core.project import Project

    proj = Project.create(args.path, name=args.name)
    print(f"Created project {proj.name!r} at {proj.root}")
    proj.close()
    return 0


def cmd_project_info(args: argparse.Namespace) -> int:
    from genstudio.core.gallery import Query
    from genstudio.core.project import Project

    proj = Project.open(args.path)
    try:
        report = proj.gallery.open_report  # reconciled with the disk when it opened
        info = {
            "name": proj.name,
            "root": str(proj.root),
            "read_only": proj.read_only,
            "read_only_reason": proj.read_only_reason,
            "assets": proj.gallery.count(Query()),
            "trashed": proj.gallery.count(Query(trashed=True)),
            "kinds": proj.gallery.kinds(),
            "models": proj.gallery.models(),
        }
        if report is not None:
            info["reconcile"] = {
                "added": len(report.added),
                "missing": len(report.missing),
                "corrupt": len(report.corrupt),
                "restored": len(report.restored),
            }
        if args.json:
            _print_json(info)
        else:
            for k, v in info.items():
                print(f"{k:17s} {v}")
    finally:
        proj.close()
    return 0


def _record_row(rec: Any) -> dict[str, Any]:
    return {
        "id": rec.id,
        "kind": rec.kind,
        "file": rec.file,
        "generator": rec.generator,
        "model": rec.model_id,
        "seed": rec.seed,
        "prompt": rec.prompt,
        "tags": rec.tags,
        "favorite": rec.favorite,
        "rating": rec.rating,
        "status": rec.status,
        "created": rec.created,
    }


def _print_records(records: list[Any], as_json: bool) -> None:
    rows = [_record_row(r) for r in records]
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        star = "*" if r["favorite"] else " "
        prompt = _safe_text(str(r["prompt"] or ""))[:60]
        print(f"{r['id']}  {star} {r['kind']:7s} {r['status']:7s} {prompt}")
    print(f"({len(rows)} asset{'' if len(rows) == 1 else 's'})")


def cmd_gallery_list(args: argparse.Namespace) -> int:
    from genstudio.core.gallery import Query

    q = Query(kind=args.kind, trashed=args.trash, limit=args.limit, favorite=args.favorites or None)
    with _opened(args.project) as proj:
        _print_records(proj.gallery.query(q), args.json)
    return 0


def cmd_gallery_search(args: argparse.Namespace) -> int:
    from genstudio.core.gallery import Query

    with _opened(args.project) as proj:
        _print_records(proj.gallery.query(Query(text=args.text, limit=args.limit)), args.json)
    return 0


def cmd_gallery_rebuild(args: argparse.Namespace) -> int:
    with _opened(args.project) as proj:
        n = proj.gallery.rebuild()
        print(f"Rebuilt the gallery index of {proj.root} from {n} sidecars")
    return 0


# --- generate -------------------------------------------------------------------------------


def output_folder(path: Path) -> Path:
    """``--out``: create the folder (and its parents) or say exactly why it cannot be."""
    import errno

    from genstudio.core.errors import InvalidParamsError

    shown = _safe_text(str(path))
    if len(shown) > 120:
        shown = shown[:60] + "..." + shown[-40:]
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        return path
    except FileExistsError:
        why, hint = "is a file, not a folder", "Give --out a folder (new or existing)."
    except NotADirectoryError:
        why, hint = (
            "is a file, or is inside a file, not a folder",
            "Give --out a folder (new or existing).",
        )
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            why, hint = "has a name that is too long", "Use names of at most 255 bytes each."
        elif e.errno == errno.EROFS:
            why, hint = "is on a read-only drive", "Choose a folder on a writable drive."
        elif e.errno in (errno.EACCES, errno.EPERM):
            why, hint = "cannot be created (permission denied)", "Choose a folder you may write to."
        elif e.errno == errno.ENOSPC:
            why, hint = "cannot be created: the disk is full", "Free some space and try again."
        else:
            why, hint = f"cannot be created ({e.strerror or e})", "Choose another folder."
    raise InvalidParamsError(f"The output folder {shown} {why}.", hint=hint)


def _count_arg(lo: int, hi: int):
    """An argparse type: an integer in ``lo..hi`` (a clear message instead of an overflow)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text} is outside {lo}..{hi:,}")
        return v

    return parse


def run_generator_to_dir(
    generator: str,
    params: dict[str, Any],
    out: Path,
    project_path: Path | None,
    extras: dict[Path, dict[str, Any]] | None = None,
) -> list[Path]:
    """Run one generator job through the studio's job runner (inline); outputs go to ``out``
    (:class:`~genstudio.core.folder.FolderSink`) and, if given, a project. Words of the prompt
    the generator could not honour and its notes are printed once each; an output with
    ``extra["credits"]`` (LPC art) gets ``<stem>.CREDITS.txt`` beside it. ``extras`` collects
    each written file's ``extra``."""
    from genstudio.core.folder import FolderSink
    from genstudio.core.jobs import EventType, JobEvent, JobRunner, JobSpec

    out = output_folder(out)
    project = None
    if project_path is not None:
        from genstudio.core.project import Project

        project = Project.open(project_path)
    sink = FolderSink(out, project)

    def progress(event: JobEvent) -> None:
        if event.type == EventType.PROGRESS:
            line = f"\r[{event.fraction * 100:5.1f}%] {event.message[:60]:60s}"
            print(line, end="", file=sys.stderr, flush=True)

    runner = JobRunner(sink, sync=True, raise_errors=True)
    runner.subscribe(progress)
    try:
        runner.submit(JobSpec(generator, params))
    finally:
        print(file=sys.stderr)
        runner.shutdown()
        if project is not None:
            project.close()
    for note in _output_notes([w.extra for w in sink.written]):  # after the progress line
        print(f"note: {_safe_text(note)}", file=sys.stderr)
    if extras is not None:
        extras.update((w.path, w.extra) for w in sink.written)
    return [w.path for w in sink.written]


def _output_notes(extras: list[dict[str, Any]]) -> list[str]:
    """What the user should know about the outputs, each sentence once: a SoundFont that was
    not usable, prompt words not understood or understood by meaning, the generator's notes,
    the license of credited art."""
    notes: list[str] = []

    def say(note: str) -> None:
        if note not in notes:
            notes.append(note)

    for extra in extras:
        how = str(extra.get("renderer") or "")
        if how.startswith("synth ("):  # a SoundFont was not usable
            say(how[7:-1])
        unknown = [str(w) for w in extra.get("prompt_unknown") or []]
        if unknown:
            say("not understood, so not in the result: " + ", ".join(unknown))
        for word, entry in (extra.get("prompt_by_meaning") or {}).items():
            say(f"understood by meaning: {word} -> {entry}")
        said = extra.get("notes")  # a list of sentences
        for n in said if isinstance(said, list) else []:
            say(str(n))
        if extra.get("credits"):
            say(
                f"{extra.get('license', '')} art: the artists' credits are in "
                "<sheet>.CREDITS.txt beside each sheet; keep them with it"
            )
    return notes


def _music_key_lock(model: str, style: str) -> bool:
    """A fine-tuned style's recommended key lock (its material's in-key share), else on."""
    if not model:
        return True
    from genstudio.core.atomic import read_json

    for s in read_json(Path(model) / "model.json").get("styles", []):
        if isinstance(s, dict) and s.get("token") == style:
            lock = (s.get("sampling") or {}).get("key_lock")
            return lock if isinstance(lock, bool) else True
    return True


def _music_model_style(args: argparse.Namespace) -> tuple[str, str]:
    """(model, style): a fine-tuned model's own style unless --style names another."""
    if args.project:
        from genstudio.runtime import registry

        registry.set_project_models(Path(args.project) / "models")
    if not args.model:
        return "", args.style or "folk"
    from genstudio.core.atomic import read_json
    from genstudio.runtime import registry

    root = registry.resolve(args.model, kind="music")
    styles = [s for s in read_json(root / "model.json").get("styles", []) if isinstance(s, dict)]
    if args.style:
        for s in styles:  # --style "My style: X" or its token
            if args.style in (s.get("title"), s.get("token")):
                return str(root), str(s.get("token"))
        return str(root), args.style
    return str(root), str(styles[-1]["token"]) if styles else "folk"


def _params_of(args: argparse.Namespace, generator: str) -> dict[str, Any]:
    """The flags the user gave, as the generator's params (its field spec says which)."""
    from genstudio import generators
    from genstudio.generators import fields

    return fields.from_args(args, generators.get(generator).Params)


def cmd_generate_music(args: argparse.Namespace) -> int:
    params = _params_of(args, "music.gpt")
    params["model"], params["style"] = _music_model_style(args)
    if "key_lock" not in params:
        params["key_lock"] = _music_key_lock(params["model"], params["style"])
    for path in run_generator_to_dir("music.gpt", params, Path(args.out), args.project):
        print(path)
    return 0


def cmd_generate_image(args: argparse.Namespace) -> int:
    params = _params_of(args, "images.diffusion")
    if args.pixel_art is not None:
        params.update(pixel_art=True, grid=args.pixel_art)
    for path in run_generator_to_dir("images.diffusion", params, Path(args.out), args.project):
        print(path)
    return 0


SPRITE_STYLES = {"genstudio": "sprites.procedural", "lpc": "sprites.lpc"}


def cmd_generate_sprite(args: argparse.Namespace) -> int:
    from genstudio import generators
    from genstudio.core.errors import InvalidParamsError
    from genstudio.generators import fields
    from genstudio.generators.sprites import export as sprite_export
    from genstudio.generators.sprites.generator import SpriteParams

    generator = args.model or SPRITE_STYLES[args.style]
    params = _params_of(args, generator)
    own = {f.name for f in fields.specs(generators.get(generator).Params)}
    for f in fields.specs(SpriteParams):  # the flags are SpriteParams'; say which do not apply
        if f.flag and f.name not in own and getattr(args, f.name, None) is not None:
            raise InvalidParamsError(
                f"{f.flag} is not a setting of the {args.style} style.",
                hint=f"Leave it out, or use --style {'genstudio' if args.style != 'genstudio' else 'lpc'}.",
            )
    sprite_export.check_scale(args.scale)  # before generating, not after
    extras: dict[Path, dict[str, Any]] = {}
    written = run_generator_to_dir(generator, params, Path(args.out), args.project, extras)
    for sheet in written:
        extra = sprite_export.export_sheet_file(
            sheet,
            formats=args.format or [],
            scale=args.scale,
            layout=extras.get(sheet, {}).get("layout"),
        )
        print(sheet)
        for p in extra:
            print(p)
    return 0


# --- bench / demo ---------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    import platform

    results: dict[str, Any] = {
        "genstudio": __version__,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
    }
    parts = args.parts or ["gallery"]
    for part in parts:
        if part == "gallery":
            from genstudio.core.bench import bench_gallery

            results["gallery"] = bench_gallery(n=args.assets)
        elif part == "sprites":
            from genstudio.ml.sprites.bench import bench_sprites

            results["sprites"] = bench_sprites()
        elif part == "music":
            from genstudio.ml.music.bench import bench_music

            results["music"] = bench_music()
        elif part == "train":
            from genstudio.ml.music.bench import bench_train

            results["train"] = bench_train()
        elif part == "images":
            from genstudio.ml.images.bench import bench_images

            results["images"] = bench_images()
        else:
            raise GenStudioError(
                f"Unknown benchmark {part!r}", hint="Known: gallery, sprites, music, images, train"
            )
    if args.json:
        _print_json(results)
    else:
        for part in parts:
            print(f"== {part}")
            for k, v in results[part].items():
                print(f"  {k}: {v}")
    return 0


def _run_child_job(
    generator: Any,
    params: dict[str, Any],
    *,
    on_event: Any,
    on_progress: Any,
    stopping: str,
) -> dict[str, Any]:
    """Run ``generator`` (a ``needs_process`` class) in the training child process, as the
    studio does; Ctrl-C cancels it (printing ``stopping``) and waits for it to end. Returns
    ``{"info": ...}`` or ``{"error": exception}``."""
    import signal
    import threading

    from genstudio.core import procrunner

    # Ctrl-C must reach us even when the shell started us with SIGINT ignored
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    cancel = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["info"] = procrunner.run_in_process(
                f"{generator.__module__}:{generator.__qualname__}",
                params,
                on_progress=on_progress,
                on_output=lambda _o: "",
                cancel_event=cancel,
                on_event=on_event,
                grace=generator.cancel_grace,  # a checkpoint or a file is being written
            )
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            result["error"] = e
        finally:
            finished.set()

    # waiting on an Event, not Thread.join: a join interrupted by Ctrl-C may return early later
    finished = threading.Event()
    worker = threading.Thread(target=work, name=generator.name, daemon=True)
    worker.start()
    while not finished.is_set():
        try:
            finished.wait(0.2)
        except KeyboardInterrupt:
            if not cancel.is_set():
                print(stopping, flush=True)
                cancel.set()
    return result


def cmd_train_music(args: argparse.Namespace) -> int:
    """Fine-tune music through the same training child process the studio uses."""
    from genstudio.core.atomic import read_json
    from genstudio.generators import fields
    from genstudio.generators.training import TrainMusicGenerator, TrainMusicParams

    if args.project:
        from genstudio.runtime import registry

        registry.set_project_models(Path(args.project) / "models")
    out = Path(args.out).absolute()
    run = Path(args.run).absolute() if args.run else out.parent / ".runs" / out.name
    given = fields.from_args(args, TrainMusicParams)
    given["data"] = tuple(str(Path(d).absolute()) for d in given.get("data", ()))
    params = TrainMusicParams.from_dict(
        {**given, "name": args.name or out.name, "out": str(out), "run": str(run)}
    )
    if args.processes > 1:
        return _train_ddp(params.to_dict(), args.processes, run)
    last = [0.0]

    def on_event(name: str, data: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps({"event": name, **data}), flush=True)
            return
        if name == "hardware":
            print(f"training on {_safe_text(str(data.get('words')))}")
        elif name == "data":
            try:
                rep = read_json(run / "data-report.json")
            except GenStudioError:
                rep = {}
            print(_safe_text(str(rep.get("summary", f"{data.get('used')} pieces used"))))
            for f in rep.get("files", []):
                if not f.get("used"):
                    print(f"  skipped {_safe_text(f['path'])}: {_safe_text(f['reason'])}")
            for p in rep.get("problems", []):
                print(f"  note: {_safe_text(p)}")
        elif name == "start":
            print(
                f"{data.get('method')} fine-tuning, {data.get('trainable'):,} of "
                f"{data.get('params'):,} weights, steps {data.get('step')}->{data.get('max_steps')}"
            )
        elif name == "resumed_from":
            print(f"resumed from the checkpoint at step {data.get('step')}")
        elif name == "eval":
            print(f"step {data.get('step')}: held-out loss {data.get('nll')} (lower is better)")
        elif name in ("oom", "time_budget"):
            print(
                _safe_text(
                    str(data.get("message") or f"time budget reached at step {data.get('step')}")
                )
            )
        elif name == "preview":
            mids = [f["path"] for f in data.get("files", []) if f.get("kind") == "midi"]
            if mids:
                print(f"preview: {_safe_text(mids[0])}")

    def on_progress(fraction: float, message: str, _preview: bytes | None) -> None:
        import time as _time

        if not args.json and (_time.monotonic() - last[0] > 5 or fraction >= 1):
            last[0] = _time.monotonic()
            print(f"{fraction * 100:5.1f}%  {_safe_text(message)}", flush=True)

    result = _run_child_job(
        TrainMusicGenerator,
        params.to_dict(),
        on_event=on_event,
        on_progress=on_progress,
        stopping="stopping: saving a checkpoint ...",
    )
    err = result.get("error")
    if isinstance(err, Cancelled):
        print(f"stopped; run the same command again to resume ({run})")
        return 130
    if err is not None:
        raise err
    info = result.get("info", {})
    print(f"model pack: {info.get('pack')}")
    print(f"use it: genstudio generate music --model {out} --bars 16 --out OUT_FOLDER")
    return 0


def _train_ddp(params: dict[str, Any], n: int, run: Path) -> int:
    """The same training loop in ``n`` processes under torchrun (DDP)."""
    import subprocess
    import sys

    from genstudio.core.atomic import atomic_write_json

    if not 2 <= n <= 64:
        raise GenStudioError("--processes must be 1-64.")
    run.mkdir(parents=True, exist_ok=True)
    job = run / "job-ddp.json"
    atomic_write_json(job, params)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
        "-m", "genstudio.ml.music.finetune", "--params", str(job),
    ]  # fmt: skip
    print(f"starting {n} training processes (torchrun)")
    return subprocess.call(cmd)


def cmd_demo(args: argparse.Namespace) -> int:
    """Headless demo for machines with no display: a sample project, a generation, the window
    opened offscreen, and where to find the results."""
    import subprocess
    import tempfile

    from genstudio.core.gallery import Query
    from genstudio.core.jobs import JobRunner, JobSpec, JobState
    from genstudio.core.project import Project

    root = Path(args.project) if args.project else Path(tempfile.mkdtemp(prefix="genstudio-demo-"))
    print("GenStudio headless demo (no display was found, so the window cannot be shown).")
    proj = Project.open(root) if (root / "project.json").exists() else Project.create(root, "Demo")
    runner = JobRunner(proj)
    try:
        job = runner.submit(
            JobSpec(
                generator="sprites.procedural",
                params={"prompt": "knight with a sword", "seed": 7, "count": 4},
                title="Demo: 4 procedural characters",
            )
        )
        runner.wait_idle(timeout=120)
        job = runner.get(job.id)
        print(f"Job {job.spec.title!r}: {job.state.value}")
        if job.state != JobState.DONE:
            print(f"  error: {job.error}")
            return 1
        for rec in proj.gallery.query(Query(limit=10)):
            print(f"  asset {rec.id}: {proj.asset_path(rec)}")
    finally:
        runner.shutdown()
        proj.close()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    smoke = subprocess.run(
        _self_command("ui", "--smoke-test"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(f"Main window opened offscreen: {smoke.stdout.strip() or smoke.stderr.strip()[-300:]}")
    print(f"Project folder: {root}")
    print("Open it on a machine with a display with: genstudio ui " + str(root))
    return smoke.returncode


# --- models ---------------------------------------------------------------------------------


def cmd_models_list(args: argparse.Namespace) -> int:
    from genstudio.runtime import registry

    if getattr(args, "project", None):
        registry.set_project_models(Path(args.project) / "models")
    rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "version": e.version,
            "license": e.license,
            "source": e.source,
            "title": e.title,
            "styles": [s.get("title") or s.get("token") for s in e.styles],
            "path": e.root,
        }
        for e in registry.list_packs()
    ]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            extra = f"  {', '.join(r['styles'])}" if r["styles"] else ""
            print(
                f"{_safe_text(r['id']):30s} {r['kind']:8s} {_safe_text(r['version']):10s} "
                f"{r['source']:9s}{_safe_text(extra)}"
            )
        print(f"({len(rows)} model packs)")
        for source, root in registry.roots():
            print(f"  {source} models: {_safe_text(str(root))}")
        if not getattr(args, "project", None):
            print("  (a project's fine-tuned models: add --project FOLDER)")
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    """An ONNX export is copied in; a single-file checkpoint or a diffusers folder is converted
    to ONNX in the training child process (progress printed, Ctrl-C cancels)."""
    from genstudio.core.settings import user_models_dir
    from genstudio.generators.images.sd.convert import (
        ImportSDGenerator,
        ImportSDParams,
        classify_source,
    )
    from genstudio.generators.images.sd.folder import import_sd_folder, validate_sd_folder

    models = Path(args.models_dir or user_models_dir()).absolute()
    kind = classify_source(args.path)
    if kind == "onnx":
        info = validate_sd_folder(args.path)
        dest = import_sd_folder(args.path, models, name=args.name)
        print(f"imported {info.variant} model: {dest}")
        return 0
    what = "checkpoint" if kind == "single_file" else "diffusers folder"
    print(f"converting the {what} {_safe_text(str(args.path))} to ONNX ...", flush=True)
    params = ImportSDParams(
        source=str(Path(args.path).absolute()),
        models_dir=str(models),
        name=args.name or "",
        prediction=args.prediction,
        tokenizer=str(Path(args.tokenizer).absolute()) if args.tokenizer else "",
    )
    last = [""]

    def on_progress(fraction: float, message: str, _preview: bytes | None) -> None:
        if message != last[0]:
            last[0] = message
            print(f"{fraction * 100:5.1f}%  {_safe_text(message)}", flush=True)

    result = _run_child_job(
        ImportSDGenerator,
        params.to_dict(),
        on_event=None,
        on_progress=on_progress,
        stopping="stopping the import ...",
    )
    err = result.get("error")
    if isinstance(err, Cancelled):
        print("import cancelled; nothing was added to the models folder")
        return 130
    if err is not None:
        raise err
    info = result.get("info", {})
    print(f"imported {info.get('variant')} model: {_safe_text(str(info.get('model')))}")
    if info.get("model_hash"):
        print(f"  model hash (A1111): {info['model_hash']}")
    return 0


def cmd_models_check(args: argparse.Namespace) -> int:
    from genstudio.runtime.packs import PACK_FILE, load_pack

    path = Path(args.path)
    if (path / "model_index.json").is_file() and not (path / PACK_FILE).exists():
        from genstudio.generators.images.sd.folder import validate_sd_folder

        print(f"OK: {validate_sd_folder(path).describe()}")
        return 0
    pack = load_pack(path)
    print(f"OK: {pack.id} ({pack.kind} {pack.version}), {len(pack.files)} files verified")
    return 0


# --- ml: training, export, eval -------------------------------------------------------------


# --- ml train / export / report / eval: one function per target, in tables ----------------


def _train_sprites(args: argparse.Namespace) -> Any:
    from genstudio.ml.sprites.train import TrainConfig, train

    cfg = TrainConfig(threads=args.threads, seed=args.seed)
    if args.steps:
        cfg.max_steps = args.steps
    if args.batch:
        cfg.batch = args.batch
    return train(Path(args.run), cfg, minutes=args.minutes)


def _train_sprites_judge(args: argparse.Namespace) -> Any:
    from genstudio.ml.sprites.judge import train_judge

    return train_judge(Path(args.run), steps=args.steps, threads=args.threads)


def _train_music(args: argparse.Namespace) -> Any:
    from genstudio.ml.music.train import TrainConfig as MusicConfig
    from genstudio.ml.music.train import train as train_music

    if not args.data:
        raise GenStudioError(
            "Training music needs the corpus cache.",
            hint="Build it: python -m genstudio.ml.music.data build DIR, then --data DIR",
        )
    mcfg = MusicConfig(threads=args.threads, seed=args.seed)
    if args.steps:
        mcfg.max_steps = args.steps
    if args.batch:
        mcfg.batch = args.batch
    return train_music(Path(args.run), Path(args.data), mcfg, minutes=args.minutes)


def _train_images(what: str):
    def run(args: argparse.Namespace) -> Any:
        from genstudio.ml.images.train import TrainConfig as ImageConfig
        from genstudio.ml.images.train import train as train_images

        if not args.data:
            raise GenStudioError(
                "Training the image model needs the icon data cache.",
                hint="Build it: python -m genstudio.ml.images.data build DIR, then --data DIR",
            )
        icfg = ImageConfig(what=what, threads=args.threads, seed=args.seed)
        if args.init:
            if what in ("judge", "clip"):
                raise GenStudioError("--init starts an autoencoder or a diffusion run only.")
            icfg.init = str(args.init)
        if args.decoder_only:
            if what != "ae" or not args.init:
                raise GenStudioError("--decoder-only fine-tunes the decoder of --init AE_RUN.")
            icfg.freeze_encoder = True
        icfg.edge_loss = args.edge_loss or 0.0
        icfg.latent_noise = args.latent_noise or 0.0
        for name in ("steps", "batch", "lr"):
            if getattr(args, name):
                setattr(icfg, name, getattr(args, name))
        return {"run": str(train_images(icfg, Path(args.data), Path(args.run), ae_run=args.ae))}

    return run


ML_TRAIN: dict[str, Callable[[argparse.Namespace], Any]] = {
    "sprites": _train_sprites,
    "sprites-judge": _train_sprites_judge,
    "music": _train_music,
    "images-ae": _train_images("ae"),
    "images": _train_images("diffusion"),
    "images-judge": _train_images("judge"),
    "images-clip": _train_images("clip"),
}


def cmd_ml_train(args: argparse.Namespace) -> int:
    _print_json(ML_TRAIN[args.what](args))
    return 0


def _export_images(args: argparse.Namespace, metrics: Any) -> Any:
    from genstudio.ml.images.export import export_pack as export_images

    if not (args.ae and args.data):
        raise GenStudioError("export images needs --ae RUN_AE and --data DIR")
    return export_images(
        Path(args.run), args.ae, args.data, Path(args.out), metrics=metrics, notes=args.note
    )


def _export_music(args: argparse.Namespace, metrics: Any) -> Any:
    from genstudio.ml.music.train import export_pack as export_music

    return export_music(Path(args.run), Path(args.out), metrics=metrics, notes=args.note)


def _export_sprites(args: argparse.Namespace, metrics: Any) -> Any:
    from genstudio.ml.sprites.train import export_pack

    return export_pack(
        Path(args.run), Path(args.out), metrics=metrics, notes=args.note,
        logit_adjust=args.logit_adjust,
    )  # fmt: skip


ML_EXPORT: dict[str, Callable[[argparse.Namespace, Any], Any]] = {
    "sprites": _export_sprites,
    "music": _export_music,
    "images": _export_images,
}


def cmd_ml_export(args: argparse.Namespace) -> int:
    metrics = None
    if args.metrics:
        from genstudio.core.atomic import read_json

        metrics = read_json(args.metrics, what="metrics file")
    print(ML_EXPORT[args.what](args, metrics))
    return 0


def _write_model_card(args: argparse.Namespace, model: Path, docs: Path, name: str, build) -> None:
    """``build(pack, eval, bench)`` -> the card, written to the pack's README and docs/models."""
    from genstudio.core.atomic import atomic_write_text, read_json

    ev = read_json(args.eval, what="eval file") if args.eval else None
    bench = read_json(args.bench, what="bench file") if args.bench else None
    card = build(model, ev, bench)
    atomic_write_text(model / "README.md", card)
    atomic_write_text(docs / "models" / f"{name}.md", card)
    print(docs / "models" / f"{name}.md")


def _report_images(args: argparse.Namespace) -> None:
    from genstudio.ml.images.report import contact_sheet, model_card

    model, docs = Path(args.model), Path(args.docs)
    print(contact_sheet(model, docs / "images-icons-contact-sheet.png"))
    _write_model_card(args, model, docs, "images-icons", model_card)


def _report_music(args: argparse.Namespace) -> None:
    from genstudio.ml.music.report import model_card, write_examples

    model, docs = Path(args.model), Path(args.docs)
    for row in write_examples(docs, model):
        print(docs / "music" / f"{row['name']}.mid")
    _write_model_card(args, model, docs, "music-gpt", model_card)


def _report_sprites(args: argparse.Namespace) -> None:
    from genstudio.ml.sprites.report import write_report

    for p in write_report(Path(args.model), args.eval, Path(args.docs)):
        print(p)


ML_REPORT: dict[str, Callable[[argparse.Namespace], None]] = {
    "sprites": _report_sprites,
    "music": _report_music,
    "images": _report_images,
}


def cmd_ml_report(args: argparse.Namespace) -> int:
    ML_REPORT[args.what](args)
    return 0


def _status(m: str) -> None:
    print(f"\r{m:40s}", end="", file=sys.stderr, flush=True)


def _eval_music(args: argparse.Namespace) -> Any:
    from genstudio.ml.music.evaluate import evaluate as evaluate_music

    if not args.data:
        raise GenStudioError("eval music needs --data (the corpus cache with held-out pieces)")
    return evaluate_music(
        Path(args.data), n=args.n or 200, bars=args.bars, pack_dir=args.model, progress=_status
    )


def _eval_images(args: argparse.Namespace) -> Any:
    from genstudio.ml.images.evaluate import evaluate as evaluate_images

    if not (args.data and args.judge):
        raise GenStudioError("eval images needs --data DIR and --judge RUN")
    if args.guidance_sweep:
        from genstudio.ml.images.evaluate import guidance_sweep

        try:
            scales = [float(v) for v in args.guidance_sweep.split(",")]
        except ValueError:
            raise GenStudioError(
                f"--guidance-sweep takes numbers separated by commas, not {args.guidance_sweep!r}"
            ) from None
        return guidance_sweep(
            Path(args.data), Path(args.judge), scales, pack_dir=args.model,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )  # fmt: skip
    return evaluate_images(
        Path(args.data), Path(args.judge), pack_dir=args.model, per_category=args.n or 6,
        progress=_status,
    )  # fmt: skip


def _eval_sprites(args: argparse.Namespace) -> Any:
    if not args.judge:
        raise GenStudioError("eval sprites needs --judge (the judge run folder)")
    from genstudio.generators.sprites.model_gen import generate_sheets
    from genstudio.ml.sprites.evaluate import evaluate

    def gen(attrs: list[dict[str, str]], seeds: list[int]):
        return generate_sheets(attrs, seeds, pack_dir=args.model)

    def gen_limited(attrs: list[dict[str, str]], seeds: list[int]):
        return generate_sheets(attrs, seeds, pack_dir=args.model, palette_colors=args.colors)

    return evaluate(
        Path(args.judge),
        gen,
        n=args.n or 500,
        max_colors=args.colors or None,
        generate_limited=gen_limited if args.colors else None,
    )


EVAL: dict[str, Callable[[argparse.Namespace], Any]] = {
    "sprites": _eval_sprites,
    "music": _eval_music,
    "images": _eval_images,
}


def cmd_eval(args: argparse.Namespace) -> int:
    from genstudio.core.atomic import atomic_write_json

    result = EVAL[args.what](args)
    if args.out:
        atomic_write_json(args.out, result)
    _print_json(result)
    return 0


def _generate_parsers(gen: Any, *, full: bool) -> None:
    """``generate sprite|music|image``: every parameter's flag comes from the generator's field
    spec (``genstudio.generators.fields``); only the flags that are not parameters are written
    here. ``full=False`` (any other command) skips importing the generators."""
    sp = gen.add_parser("sprite", help="character sprite sheets")
    mu = gen.add_parser("music", help="MIDI (and WAV) from the built-in music model")
    im = gen.add_parser("image", help="images from the built-in model or an SD ONNX folder")
    if not full:
        return
    from genstudio.generators import fields
    from genstudio.generators.images.generator import ImageParams
    from genstudio.generators.music.generator import MusicParams
    from genstudio.generators.sprites import export as sprite_export
    from genstudio.generators.sprites.generator import SpriteParams

    fields.add_arguments(sp, SpriteParams)
    sp.add_argument("--out", required=True, type=Path)
    sp.add_argument(
        "--format",
        action="append",
        choices=[f for f in sprite_export.FORMATS if f != "png"],  # the sheet is the PNG
        help="repeatable",
    )
    sp.add_argument("--scale", type=int, default=1, help="export scale 1..8 (nearest)")
    sp.add_argument(
        "--style",
        choices=sorted(SPRITE_STYLES),
        default="genstudio",
        help="genstudio: GenStudio's own 32 px art (license-free, default); lpc: characters "
        "made of the Universal LPC art (64 px, every animation; CC-BY-SA 3.0 / GPL 3.0: "
        "credit the artists, share alike - a CREDITS.txt is written beside each sheet)",
    )
    sp.add_argument("--model", help="generator id (overrides --style)")
    sp.add_argument("--project", type=Path, help="also save into this project's gallery")
    sp.set_defaults(func=cmd_generate_sprite)

    fields.add_arguments(mu, MusicParams)  # --style/--model/--key-lock: see cmd_generate_music
    mu.add_argument("--out", required=True, type=Path)
    mu.add_argument("--project", type=Path, help="also save into this project's gallery")
    mu.set_defaults(func=cmd_generate_music)

    fields.add_arguments(im, ImageParams)
    im.add_argument("--pixel-art", type=int, metavar="GRID", help="pixel art on a GRID grid")
    im.add_argument("--out", required=True, type=Path)
    im.add_argument("--project", type=Path, help="also save into this project's gallery")
    im.set_defaults(func=cmd_generate_image)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI; the ``generate`` and ``train`` flags are built only when ``argv`` asks for
    that command (or is None), so other commands and the studio start without importing the
    generators."""
    full = argv is None or "generate" in argv
    train_flags = argv is None or "train" in argv
    p = argparse.ArgumentParser(prog="genstudio", description="GenStudio: offline creative studio")
    p.add_argument("--version", action="version", version=f"genstudio {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command")

    ui = sub.add_parser("ui", help="open the studio window (the default)")
    ui.add_argument("project", nargs="?", type=Path)
    ui.add_argument("--smoke-test", action="store_true", help="open offscreen, print ms, exit")
    ui.set_defaults(func=cmd_ui)

    d = sub.add_parser("doctor", help="versions, execution providers, model packs, paths")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)

    pr = sub.add_parser("project", help="create or inspect a project").add_subparsers(
        dest="sub", required=True
    )
    pn = pr.add_parser("new")
    pn.add_argument("path", type=Path)
    pn.add_argument("--name")
    pn.set_defaults(func=cmd_project_new)
    pi = pr.add_parser("info")
    pi.add_argument("path", type=Path)
    pi.add_argument("--json", action="store_true")
    pi.set_defaults(func=cmd_project_info)

    g = sub.add_parser("gallery", help="list, search, rebuild a project's gallery").add_subparsers(
        dest="sub", required=True
    )
    gl = g.add_parser("list")
    gl.add_argument("project", type=Path)
    gl.add_argument("--kind")
    gl.add_argument("--favorites", action="store_true")
    gl.add_argument("--trash", action="store_true")
    gl.add_argument("--limit", type=_count_arg(1, 1_000_000), default=100)
    gl.add_argument("--json", action="store_true")
    gl.set_defaults(func=cmd_gallery_list)
    gs = g.add_parser("search")
    gs.add_argument("project", type=Path)
    gs.add_argument("text")
    gs.add_argument("--limit", type=_count_arg(1, 1_000_000), default=100)
    gs.add_argument("--json", action="store_true")
    gs.set_defaults(func=cmd_gallery_search)
    gr = g.add_parser("rebuild")
    gr.add_argument("project", type=Path)
    gr.set_defaults(func=cmd_gallery_rebuild)

    gen = sub.add_parser("generate", help="generate sprites, images or music").add_subparsers(
        dest="kind", required=True
    )
    _generate_parsers(gen, full=full)

    tr = sub.add_parser(
        "train", help="fine-tune a model on your own material (resumable: run it again)"
    ).add_subparsers(dest="what", required=True)
    tm = tr.add_parser(
        "music",
        help="a new music style from your MIDI files",
        description="Fine-tune the music model on a folder of MIDI files. The result is a model "
        "pack with the style 'My style: NAME', usable by every music mode. Stop with Ctrl-C and "
        "run the same command again to resume from the last checkpoint.",
    )
    if train_flags:
        from genstudio.generators import fields
        from genstudio.generators.training import TrainMusicParams

        fields.add_arguments(tm, TrainMusicParams)  # --data, --base, --preset, --method ...
    tm.add_argument("--out", required=True, type=Path, help="the model pack folder to write")
    tm.add_argument("--name", help="the style's name (default: the --out folder's name)")
    tm.add_argument("--run", type=Path, help="run folder (default: .runs/<name> beside --out)")
    tm.add_argument("--project", type=Path, help="a project whose models --base may name")
    tm.add_argument("--json", action="store_true", help="print the child's events as JSON lines")
    tm.add_argument(
        "--processes",
        type=int,
        default=1,
        help="train with N processes (one per GPU; CPU: gloo) through torchrun/DDP",
    )
    tm.set_defaults(func=cmd_train_music)

    b = sub.add_parser("bench", help="speed benchmarks (JSON with --json)")
    b.add_argument("parts", nargs="*", help="gallery (default), sprites, music, images, train")
    b.add_argument("--json", action="store_true")
    b.add_argument("--assets", type=int, default=10_000, help="gallery size")
    b.set_defaults(func=cmd_bench)

    dm = sub.add_parser("demo", help="headless demo for machines without a display")
    dm.add_argument("--project", type=Path)
    dm.set_defaults(func=cmd_demo)

    mlp = sub.add_parser("ml", help="train and export the built-in models (needs torch)")
    mls = mlp.add_subparsers(dest="sub", required=True)
    mt = mls.add_parser("train")
    mt.add_argument("what", choices=list(ML_TRAIN))
    mt.add_argument("--data", type=Path, help="music/images: the data cache folder")
    mt.add_argument("--ae", type=Path, help="images: the autoencoder run")
    mt.add_argument("--init", type=Path, help="images: start from this run's weights")
    mt.add_argument(
        "--decoder-only", action="store_true", help="images-ae: fine-tune the --init decoder"
    )
    mt.add_argument("--edge-loss", type=float, help="images-ae: weight of the image-gradient loss")
    mt.add_argument("--latent-noise", type=float, help="images-ae --decoder-only: latent noise")
    mt.add_argument("--lr", type=float)
    mt.add_argument("--run", required=True, type=Path, help="run folder (resumes if present)")
    mt.add_argument(
        "--steps", type=int, help="default: the target's own (sprites 1300, judge 2000)"
    )
    mt.add_argument("--minutes", type=float, help="stop after this long (resume later)")
    mt.add_argument("--batch", type=int)
    mt.add_argument("--threads", type=int, default=0)
    mt.add_argument("--seed", type=int, default=1234)
    mt.set_defaults(func=cmd_ml_train)
    me = mls.add_parser("export")
    me.add_argument("what", choices=list(ML_EXPORT))
    me.add_argument("--run", required=True, type=Path)
    me.add_argument("--ae", type=Path, help="images: the autoencoder run")
    me.add_argument("--data", type=Path, help="images: the data cache (sources, licences)")
    me.add_argument("--out", required=True, type=Path)
    me.add_argument("--metrics", type=Path, help="eval JSON to record in the model card")
    me.add_argument("--note", action="append", help="a line for the model card (repeatable)")
    me.add_argument(
        "--logit-adjust",
        action="store_true",
        help="subtract log(class weight) before the argmax (undo the loss weighting's bias)",
    )
    me.set_defaults(func=cmd_ml_export)
    mr = mls.add_parser("report", help="contact sheets + model card of a sprite pack")
    mr.add_argument("what", choices=list(ML_REPORT))
    mr.add_argument("--model", required=True, type=Path)
    mr.add_argument("--eval", type=Path)
    mr.add_argument("--bench", type=Path, help="music: bench JSON for the model card")
    mr.add_argument("--docs", type=Path, default=Path("docs"))
    mr.set_defaults(func=cmd_ml_report)

    ev = sub.add_parser("eval", help="judge a built-in model against held-out real data")
    ev.add_argument("what", choices=list(EVAL))
    ev.add_argument("--judge", type=Path, help="sprites/images: the judge run folder")
    ev.add_argument("--data", type=Path, help="music/images: the data cache folder")
    ev.add_argument("--bars", type=int, default=16, help="music: bars per generated piece")
    ev.add_argument("--model", type=Path, help="model pack folder (default: the shipped one)")
    ev.add_argument("-n", type=int, default=0, help="pieces/sheets (sprites 500, music 200)")
    ev.add_argument("--colors", type=int, default=0, help="palette limit to apply and check")
    ev.add_argument("--out", type=Path, help="also write the JSON here")
    ev.add_argument(
        "--guidance-sweep",
        metavar="G1,G2,...",
        help="images: judge top-5 per guidance scale on training-emoji prompts (picks the default)",
    )
    ev.set_defaults(func=cmd_eval)

    m = sub.add_parser("models", help="model packs").add_subparsers(dest="sub", required=True)
    ml = m.add_parser("list", help="the model packs GenStudio can use, and where they are")
    ml.add_argument("--json", action="store_true")
    ml.add_argument("--project", type=Path, help="also list this project's models")
    ml.set_defaults(func=cmd_models_list)
    mi = m.add_parser(
        "import",
        help="import Stable Diffusion: a .safetensors checkpoint, a diffusers folder or an ONNX "
        "export (checkpoints and diffusers folders are converted to ONNX: needs the training "
        "add-on)",
    )
    mi.add_argument("path", type=Path, metavar="FILE_OR_FOLDER")
    mi.add_argument("--name", help="folder name under the models directory")
    mi.add_argument("--models-dir", type=Path, help="default: the user models folder")
    mi.add_argument(
        "--prediction",
        choices=("auto", "epsilon", "v_prediction"),
        default="auto",
        help="what the UNet predicts (auto: SD 2.x 768 v_prediction, others epsilon; a file "
        "name with 'turbo' is SD-Turbo)",
    )
    mi.add_argument(
        "--tokenizer",
        type=Path,
        metavar="FOLDER",
        help="the model's own CLIP tokenizer folder (default: CLIP's, shipped with GenStudio)",
    )
    mi.set_defaults(func=cmd_models_import)
    mc = m.add_parser("check", help="verify a model pack folder (hashes, formats, paths)")
    mc.add_argument("path", type=Path)
    mc.set_defaults(func=cmd_models_check)
    return p


def _safe_text(value: str, *, keep_newlines: bool = False) -> str:
    """``value`` for a terminal: control characters and escape sequences shown as ``\\x1b``,
    never sent raw (stored prompts come from files anyone can edit)."""
    out = []
    for ch in value:
        o = ord(ch)
        if _is_control(o) and not (keep_newlines and ch in "\n\t"):
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _check_text_args(args: argparse.Namespace) -> None:
    """Text options (prompts, names, tags) must be text: a terminal that passes invalid UTF-8
    bytes gives Python lone surrogates, which no file or model can take."""
    from genstudio.core.errors import InvalidParamsError

    for name, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, str):
                continue  # paths may hold any bytes the file system allows
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                flag = "--" + name.replace("_", "-")
                raise InvalidParamsError(
                    f"The value of {flag} is not valid UTF-8 text: {_safe_text(v)[:80]!r}.",
                    hint="Type it again in a UTF-8 terminal, or save the text as UTF-8.",
                ) from None


#: What the training add-on brings (the studio bundle has none of it; ``genstudio.ml`` too).
TRAINING_ADDON = ("torch", "onnxscript", "music21", "resvg_py", "diffusers", "peft")


def _self_command(*args: str) -> list[str]:
    """The command line that starts this studio again with ``args`` (a frozen bundle's
    executable is the studio itself; from source it is ``python -m genstudio``)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "genstudio", *args]


def _unexpected(e: BaseException, command: str) -> int:
    """Any exception that is not a GenStudioError: one line for the user, the traceback in the
    log file only (never on the terminal)."""
    from genstudio.core.logs import log_file_path

    try:
        where: Any = log_file_path()
    except Exception:  # the log location itself may be what is broken
        where = "the log file"
    file_log = logging.getLogger("genstudio.crash")
    file_log.propagate = False
    for h in logging.getLogger("genstudio").handlers:
        if isinstance(h, logging.FileHandler):
            file_log.addHandler(h)
    with contextlib.suppress(Exception):
        file_log.error("unexpected error in %r", command, exc_info=(type(e), e, e.__traceback__))
    missing = (e.name or "") if isinstance(e, ModuleNotFoundError) else ""
    if missing.split(".")[0] in TRAINING_ADDON or missing.startswith("genstudio.ml"):
        msg = (
            f"'{command}' needs the training add-on, which is not installed ({missing} is missing)."
        )
        hint = (
            "Install it beside the studio (packaging/README.md, 'Training add-on'), or run this "
            "command from a GenStudio source checkout with: pip install -e '.[train]'"
        )
    elif isinstance(e, MemoryError):
        msg = "GenStudio ran out of memory."
        hint = "Close other programs, or try smaller sizes, counts or files."
    elif isinstance(e, OSError) and e.errno == 28:
        msg = f"The disk is full ({e.strerror})."
        hint = "Free some space and try again; nothing that was already saved is lost."
    else:
        msg = (
            f"GenStudio hit an unexpected problem ({type(e).__name__}: {_safe_text(str(e))[:200]})."
        )
        hint = f"This is a bug in GenStudio. Details are in {where}."
    print(f"error: {msg}\n{hint}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    for stream in (sys.stdout, sys.stderr):  # never a UnicodeEncodeError while printing
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    command = str(getattr(args, "command", None) or "ui")
    try:
        from genstudio.core.logs import setup_logging

        setup_logging(verbose=args.verbose)
        if not getattr(args, "func", None):
            args = parser.parse_args(["ui", *(argv or [])])
        _check_text_args(args)
        return int(args.func(args) or 0)
    except GenStudioError as e:
        print(f"error: {_safe_text(e.message, keep_newlines=True)}", file=sys.stderr)
        if e.hint:
            print(_safe_text(e.hint, keep_newlines=True), file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the one top-level handler: a message, the traceback in the log
        return _unexpected(e, command)
    finally:
        log.debug("command took %.3f s", time.perf_counter() - t0)
