"""Child process for tests/core/test_jobs_crash.py: runs a JobRunner on a project until idle.

    python -m tests.helpers.crashchild PROJECT_ROOT [--add N] [--steps S] [--delay D] [--seed K]

Prints one flushed line per event, *after* the runner has saved the queue for it:
``READY``, ``EV state <job> <state>``, ``EV asset <job> <asset>``, and ``IDLE`` at the end.
The parent SIGKILLs it at random moments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def open_project(root: Path):
    from genstudio.core.project import Project

    if (root / "project.json").exists():
        return Project.open(root)
    return Project.create(root, name="crash test")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--add", type=int, default=0)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.04)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from genstudio import generators
    from genstudio.core.jobs import JobEvent, JobRunner, JobSpec
    from tests.helpers.gens import SlowGen

    generators.register("test.slow", SlowGen)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def on_event(ev: JobEvent) -> None:
        if ev.type == "state":
            say(f"EV state {ev.job_id} {ev.state.value}")
        elif ev.type == "asset":
            say(f"EV asset {ev.job_id} {ev.asset_id}")

    project = open_project(args.root)
    runner = JobRunner(workers=1)
    runner.subscribe(on_event)  # before the queue is restored, so no event is missed
    say("READY")
    runner.set_project(project)
    for i in range(args.add):
        params = {"steps": args.steps, "delay": args.delay, "seed": args.seed * 100 + i}
        runner.submit(JobSpec("test.slow", params))
    runner.wait_idle()
    runner.shutdown()
    say("IDLE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
