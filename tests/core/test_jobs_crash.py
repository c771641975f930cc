"""Kill -9 the studio at random moments while it runs a queue of jobs, many times over.

A child process (tests/helpers/crashchild.py) runs a JobRunner on a real project and prints
every event after the runner saved the queue for it. The parent SIGKILLs it at seeded random
moments and, after every kill, checks that:

- jobs.json parses, and agrees with what the child had reported (a job reported queued is
  still pending; nothing pending vanished without finishing),
- a restore gives back exactly the pending jobs, with ``crashes`` counted for the job that was
  running, and a job that was running at two crashes is SET_ASIDE and never runs again,
- every asset the child reported is intact (file present, hash equal to its sidecar's).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genstudio.core.assets import read_sidecar
from genstudio.core.jobs import JOBS_FILE, JobRunner, JobState
from tests.helpers.crashchild import open_project

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50
BUDGET_S = 75.0


class Child:
    """The child process plus a thread that collects its stdout lines as they come."""

    def __init__(self, root: Path, add: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.crashchild", str(root)]
            + ["--add", str(add), "--seed", str(seed)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("READY"):
                self.ready.set()

    def finish(self) -> tuple[list[str], bool, str]:
        """Wait for the end; returns (lines, killed?, stderr)."""
        rc = self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.lines, rc == -signal.SIGKILL, err


def read_queue(root: Path) -> dict[str, dict]:
    path = root / JOBS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text("utf-8"))  # must always parse: atomic writes
    assert data["format"] == "genstudio-jobs" and data["version"] == 1
    return {d["id"]: d for d in data["jobs"]}


def asset_intact(project, asset_id: str) -> bool:
    """The sidecar (the truth) reads, and the file's hash is the one it records."""
    assets = Path(project.root) / "assets"
    sidecar = assets / f"{asset_id}.json"
    rec = read_sidecar(sidecar)
    return hashlib.sha256((assets / rec.file).read_bytes()).hexdigest() == rec.sha256


@pytest.mark.slow
def test_queue_and_assets_survive_kill_9(tmp_path):
    rng = random.Random(20240611)
    root = tmp_path / "proj"
    open_project(root).close()

    reported_assets: set[str] = set()
    set_aside: set[str] = set()
    known_pending: dict[str, str] = {}  # job id -> state after the last restore
    kills = rounds = crash_restores = 0
    started = time.monotonic()

    while kills < KILLS:
        assert time.monotonic() - started < BUDGET_S, f"only {kills} kills in {BUDGET_S}s"
        rounds += 1
        queued = sum(1 for s in known_pending.values() if s == "queued")
        child = Child(root, add=3 if queued < 3 else 0, seed=rounds)
        assert child.ready.wait(30), "child did not start"
        time.sleep(rng.uniform(0.0, 0.5))
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGKILL)
        lines, killed, err = child.finish()
        kills += killed
        assert killed or "IDLE" in lines, f"child failed:\n{err[-3000:]}"

        # ---- what the child said, against what it saved
        last_state: dict[str, str] = {}
        for line in lines:
            parts = line.split()
            if parts[:2] == ["EV", "state"]:
                last_state[parts[2]] = parts[3]
            elif parts[:2] == ["EV", "asset"]:
                reported_assets.add(parts[3])
        for jid in set_aside:
            assert last_state.get(jid) != "running", "a set-aside job ran again"
        before = read_queue(root)
        for jid, state in last_state.items():
            if state == "queued":
                assert before[jid]["state"] in ("queued", "running")
            elif state == "running":
                assert jid not in before or before[jid]["state"] == "running"
            elif state in ("done", "failed", "cancelled"):
                assert jid not in before
        for jid in known_pending:
            if jid not in last_state:  # it cannot have finished without telling us
                assert jid in before, f"pending job {jid} vanished"

        # ---- restore (without running anything) and check the crash accounting
        project = open_project(root)
        runner = JobRunner(project, sync=True)
        try:
            after = {j.id: j for j in runner.jobs()}
        finally:
            runner.shutdown()
        assert set(after) == set(before)
        for jid, d in before.items():
            job = after[jid]
            if d["state"] == "running":
                crash_restores += 1
                assert job.crashes == d["crashes"] + 1
                want = JobState.SET_ASIDE if job.crashes >= 2 else JobState.QUEUED
                assert job.state == want
            else:
                assert (job.state.value, job.crashes) == (d["state"], d["crashes"])
            if job.state == JobState.SET_ASIDE:
                set_aside.add(jid)
                assert job.attempts == d["attempts"]  # not run again
            for aid in job.asset_ids:  # what the queue file says a job made is intact too
                assert asset_intact(project, aid)
        saved = read_queue(root)  # the restore saved its new counts at once
        assert {j: (d["state"], d["crashes"]) for j, d in saved.items()} == {
            j: (job.state.value, job.crashes) for j, job in after.items()
        }
        known_pending = {jid: j.state.value for jid, j in after.items() if j.active}

        # ---- every asset the child reported is intact
        for aid in reported_assets:
            assert asset_intact(project, aid), f"asset {aid} damaged"
        project.close()

    assert kills >= KILLS
    assert crash_restores > 0 and set_aside, "the kills never hit a running job twice"
    assert reported_assets


ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
from genstudio import generators
from genstudio.core.jobs import JobRunner, JobSpec
from tests.helpers.fakeproject import FakeProject
from tests.helpers.gens import ProcSlowGen

generators.register("test.proc", ProcSlowGen)
project = FakeProject(Path(sys.argv[1]))
runner = JobRunner(project)
runner.subscribe(
    lambda ev: ev.type == "asset" and print("PID", project.outputs[-1].extra["pid"], flush=True)
)
runner.submit(JobSpec("test.proc", {"steps": 1, "wait_cancel": True, "ignore_cancel": True}))
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # a zombie waiting for init to reap it has ended


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_child_process_ends_when_the_studio_is_killed(tmp_path):
    err = tmp_path / "stderr.txt"
    with open(err, "w") as err_file:  # the killed studio's resource tracker talks here
        studio = subprocess.Popen(
            [sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path / "proj")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        line = studio.stdout.readline()
        assert line.startswith("PID"), line + err.read_text()
        child = int(line.split()[1])
        assert not _gone(child)
    finally:
        studio.kill()
        studio.wait()
        studio.stdout.close()
    deadline = time.monotonic() + 10
    while not _gone(child):
        assert time.monotonic() < deadline, "the generator process outlived the studio"
        time.sleep(0.05)
