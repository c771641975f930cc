"""The process the crash campaign kills (``tests/campaigns/crash_campaign.py``).

    python -m tests.campaigns.crash_worker MODE ROOT LOG --seed K [--add N]

MODE ``jobs``: a real :class:`JobRunner` (the generator registry, ``sprites.procedural``) on
the project: restores its queue, queues ``--add`` jobs, runs everything. MODE ``gallery``:
saves assets (``add_asset``), edits tags / rating / favourite / trash / restore / delete,
saves project meta and exports asset files, in a loop.

Every line goes to LOG with one ``write`` and an ``fsync`` *after* the thing it reports is
finished, so what the log says is what the parent may hold the project to:

    READY
    SUBMIT <job> <seed> <count> <json prompt>      the job is queued (jobs.json saved)
    STATE <job> <state>                            saved before the event is sent
    ASSET <job> <asset>                            written, indexed, listed in jobs.json
    SAVED <asset> <kind> <seed> <sha256> <json prompt>
    TRY <n> <op> <asset> <json value>              an edit starts ...
    OK <n>                                         ... and is finished
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

TAGS = ["hero", "boss", "wip", "final", "tile", "ui", "keep"]
KINDS = [("image", "png"), ("music", "mid"), ("audio", "wav"), ("sprite", "png")]


class Log:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def say(self, *parts: object) -> None:
        os.write(self.fd, (" ".join(str(p) for p in parts) + "\n").encode("utf-8"))
        os.fsync(self.fd)


def open_project(root: Path):
    from genstudio.core.project import Project

    if (root / "project.json").exists():
        return Project.open(root)
    return Project.create(root, name="crash campaign")


def run_jobs(root: Path, log: Log, seed: int, add: int) -> None:
    from genstudio.core.jobs import JobEvent, JobRunner, JobSpec

    rng = random.Random(seed)
    project = open_project(root)
    runner = JobRunner(workers=1)

    def on_event(ev: JobEvent) -> None:
        if ev.type == "state" and ev.state is not None:
            log.say("STATE", ev.job_id, ev.state.value)
        elif ev.type == "asset":
            log.say("ASSET", ev.job_id, ev.asset_id)

    runner.subscribe(on_event)
    log.say("READY")
    runner.set_project(project)
    for i in range(add):
        prompt = rng.choice(["knight", "red mage", "green slime", "tall elf", "dwarf"])
        prompt = f"{prompt} k{seed} j{i}"
        job_seed = seed * 1000 + i * 64
        count = rng.randint(2, 8)
        params = {"prompt": prompt, "seed": job_seed, "count": count, "size": 32}
        job = runner.submit(JobSpec("sprites.procedural", params))
        log.say("SUBMIT", job.id, job_seed, count, json.dumps(prompt))
    runner.wait_idle()
    runner.shutdown()
    project.close()
    log.say("IDLE")


def run_gallery(root: Path, log: Log, seed: int, exports: Path) -> None:
    from genstudio.core.atomic import atomic_write_bytes
    from genstudio.core.errors import GenStudioError
    from genstudio.core.gallery import Query

    rng = random.Random(seed)
    project = open_project(root)
    if project.read_only:
        sys.exit(f"read-only: {project.read_only_reason}")
    g = project.gallery
    known = [r.id for t in (False, True) for r in g.query(Query(limit=None, trashed=t))]
    log.say("READY")
    n = 0
    i = 0
    while True:
        i += 1
        kind, ext = rng.choice(KINDS)
        data = rng.randbytes(rng.randint(16, 6000))
        prompt = f"save k{seed} n{i} " + rng.choice(["dawn", "dusk", "rain", "snow"])
        rec = project.add_asset(
            kind=kind,
            data=data,
            ext=ext,
            generator="campaign.save",
            params={"prompt": prompt},
            seed=i,
        )
        log.say("SAVED", rec.id, kind, i, rec.sha256, json.dumps(prompt))
        known.append(rec.id)
        for _ in range(rng.randint(1, 4)):
            target = rng.choice(known)
            op = rng.choice(
                ["tags", "rating", "favorite", "trash", "restore", "delete", "meta", "export"]
            )
            n += 1
            try:
                if op == "tags":
                    tags = rng.sample(TAGS, rng.randint(0, 3))
                    log.say("TRY", n, op, target, json.dumps(tags))
                    g.set_tags(target, tags)
                elif op == "rating":
                    stars = rng.randrange(6)
                    log.say("TRY", n, op, target, stars)
                    g.set_rating(target, stars)
                elif op == "favorite":
                    fav = rng.random() < 0.5
                    log.say("TRY", n, op, target, json.dumps(fav))
                    g.set_favorite(target, fav)
                elif op == "trash":
                    log.say("TRY", n, op, target, "true")
                    g.trash(target)
                elif op == "restore":
                    log.say("TRY", n, op, target, "false")
                    g.restore(target)
                elif op == "delete":
                    if not g.get(target).trashed:
                        continue
                    log.say("TRY", n, op, target, "null")
                    g.delete(target)
                    known.remove(target)
                elif op == "meta":
                    log.say("TRY", n, op, "-", i)
                    project.meta["counter"] = i
                    project.save_meta()
                else:
                    rec = g.get(target)
                    out = exports / f"{target}.{rec.file.rsplit('.', 1)[-1]}"
                    log.say("TRY", n, op, target, json.dumps(str(out)))
                    atomic_write_bytes(out, (project.assets_dir / rec.file).read_bytes())
            except GenStudioError as e:  # e.g. an asset deleted by an earlier round
                log.say("ERR", n, json.dumps(e.message))
                continue
            log.say("OK", n)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["jobs", "gallery"])
    ap.add_argument("root", type=Path)
    ap.add_argument("log", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--add", type=int, default=0)
    ap.add_argument("--exports", type=Path, default=None)
    args = ap.parse_args()
    log = Log(args.log)
    if args.mode == "jobs":
        run_jobs(args.root, log, args.seed, args.add)
    else:
        exports = args.exports or args.root.parent / "exports"
        exports.mkdir(parents=True, exist_ok=True)
        run_gallery(args.root, log, args.seed, exports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
