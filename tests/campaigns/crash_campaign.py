"""Crash campaign: SIGKILL, from outside, at random moments, processes that write projects.

    python -m tests.campaigns.crash_campaign --kills N --out report.json [--seed S]

Each round starts one child and kills it (``SIGKILL``) after a seeded random delay:

- ``jobs``: a real JobRunner running queued ``sprites.procedural`` jobs (tests/campaigns/
  crash_worker.py): queued jobs, running jobs, outputs, the queue file;
- ``gallery``: saves (``add_asset``), tag / rating / favourite / trash / restore / delete
  edits, project meta saves and exports (crash_worker.py);
- ``cli_sprite``, ``cli_music``, ``cli_image``: the real CLI, ``genstudio generate sprite|music|
  image ... --project P --out O`` (sprite sheets also exported as frames / Godot / Aseprite files).

After every kill the project is reopened and checked: it opens writable, project.json,
jobs.json and gallery.sqlite are sound (``PRAGMA integrity_check``) and no sidecar is damaged
(*corrupt*); every asset the child reported finished is there, ``ok``, with its kind, seed,
prompt and generator, and edits the child reported finished are in its sidecar (*lost* /
*degraded*; a file imported without its sidecar counts as degraded); no output exists twice
(*duplicates*); every job that was pending when the child died is restored, queued again or
set aside (*pending jobs restored*). What a child reported is read from its fsynced log; what
it did not report (the moment of the kill) may have happened or not, both are accepted.

The JSON report has the counts; ``tests/core/test_crash_campaign.py`` runs a 50-kill version.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {  # name: weight in the full campaign
    "jobs": 36,
    "gallery": 30,
    "cli_sprite": 24,
    "cli_music": 5,
    "cli_image": 5,
}
#: Kill windows (seconds after the child is ready) to start with, and their caps.
WINDOWS = {"jobs": 1.6, "gallery": 0.9, "cli_sprite": 1.6, "cli_music": 3.5, "cli_image": 3.5}
WINDOW_CAPS = {"jobs": 6.0, "gallery": 1.2, "cli_sprite": 5.0, "cli_music": 12.0, "cli_image": 12.0}
_ASSET_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")


@dataclass
class Expect:
    """What a finished asset must still be."""

    kind: str | None
    generator: str
    prompt: str | None
    seeds: tuple[int, int] | None  # the seed must be in [lo, hi)
    sha256: str | None = None
    job: str | None = None
    state: dict[str, Any] = field(default_factory=dict)  # tags, rating, favorite, trashed
    unsure: set[str] = field(default_factory=set)  # fields an unfinished edit may have changed


@dataclass
class Stats:
    kills: int = 0
    rounds: int = 0
    finished_by_itself: int = 0
    kills_by_scenario: Counter = field(default_factory=Counter)
    corrupt_projects: int = 0
    lost_assets: int = 0
    degraded_assets: int = 0
    duplicates: int = 0
    pending_jobs_at_kill: int = 0
    pending_jobs_restored: int = 0
    finished_assets_reported: int = 0
    finished_edits_reported: int = 0
    exports_checked: int = 0
    sidecars_recovered: int = 0
    jobs_resumed_outputs_skipped: int = 0
    child_errors: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(what)


class Campaign:
    def __init__(self, workdir: Path, seed: int, *, per_project: int, weights: dict[str, int]):
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.seed = seed
        self.per_project = per_project
        self.weights = weights
        self.stats = Stats()
        self.project_no = 0
        self.root: Path = workdir
        self.registry: dict[str, Expect] = {}
        self.job_specs: dict[str, dict[str, Any]] = {}
        self.job_state: dict[str, str] = {}
        self.exports: dict[Path, str] = {}  # export file -> asset id
        self.deleted: set[str] = set()  # assets a delete was started for
        self.job_assets: dict[str, set[str]] = {}
        self.windows = dict(WINDOWS)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self._new_project()

    # ------------------------------------------------------------------ rounds

    def _new_project(self) -> None:
        self.project_no += 1
        self.root = self.workdir / f"project{self.project_no}"
        self.registry.clear()
        self.job_specs.clear()
        self.job_state.clear()
        self.exports.clear()
        self.deleted.clear()
        self.job_assets.clear()
        from genstudio.core.project import Project

        Project.create(self.root, name=f"campaign {self.project_no}").close()

    def run(
        self,
        kills: int,
        *,
        budget_s: float | None = None,
        progress: bool = False,
        checkpoint: Path | None = None,
    ) -> Stats:
        started = time.monotonic()
        while self.stats.kills < kills:
            if budget_s is not None and time.monotonic() - started > budget_s:
                self.stats.fail(f"time budget {budget_s:.0f} s spent after {self.stats.kills}")
                break
            if self._last_killed and self.stats.kills % self.per_project == 0:
                self._new_project()
            names = list(self.weights)
            scenario = self.rng.choices(names, [self.weights[n] for n in names])[0]
            self.stats.rounds += 1
            self._last_killed = getattr(self, f"_round_{scenario}")()
            if self._last_killed:
                self.stats.kills += 1
                self.stats.kills_by_scenario[scenario] += 1
            self._check()
            if checkpoint is not None and self.stats.rounds % 25 == 0:
                from genstudio.core.atomic import atomic_write_json

                self.elapsed = time.monotonic() - started
                atomic_write_json(checkpoint, {**self.report(), "partial": True})
            if progress and self.stats.rounds % 25 == 0:
                s = self.stats
                print(
                    f"[{time.monotonic() - started:7.1f} s] {s.kills} kills, {s.rounds} rounds, "
                    f"corrupt {s.corrupt_projects}, lost {s.lost_assets}, degraded "
                    f"{s.degraded_assets}, duplicates {s.duplicates}, pending "
                    f"{s.pending_jobs_restored}/{s.pending_jobs_at_kill}",
                    flush=True,
                )
        self.elapsed = time.monotonic() - started
        return self.stats

    _last_killed = False

    def _kill_after(self, proc: subprocess.Popen, mode: str) -> bool:
        """SIGKILL ``proc`` after a random delay within the window this kind of child is known
        to work in; the window follows how long children that finished by themselves took, so
        the kills spread over the whole run instead of after its end."""
        start = time.monotonic()
        deadline = start + self.rng.uniform(0.0, self.windows[mode])
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.windows[mode] = max(0.05, 0.9 * (time.monotonic() - start))
                return False
            time.sleep(0.005)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # Killed before it finished: the work may take longer; grow the window a little, up
        # to a cap (a child that never ends by itself, the gallery loop, stays short).
        self.windows[mode] = min(self.windows[mode] * 1.03, WINDOW_CAPS[mode])
        return proc.returncode == -signal.SIGKILL

    def _worker(self, mode: str, extra: list[str]) -> tuple[list[str], bool]:
        log = self.workdir / "worker.log"
        log.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.campaigns.crash_worker", mode, str(self.root), str(log)]
            + ["--seed", str(self.stats.rounds), "--exports", str(self.workdir / "exports")]
            + extra,
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        t0 = time.monotonic()
        while not _has_line(log, "READY"):  # the child is up: now the kill may land anywhere
            if proc.poll() is not None or time.monotonic() - t0 > 120:
                break
            time.sleep(0.005)
        killed = self._kill_after(proc, mode)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=30)
        lines = _complete_lines(log)
        if not killed and (proc.returncode != 0 or "IDLE" not in lines):
            self.stats.child_errors += 1
            self.stats.fail(f"{mode} child failed rc={proc.returncode}: {b''.join(err)[-800:]!r}")
        if not killed:
            self.stats.finished_by_itself += 1
        return lines, killed

    def _round_jobs(self) -> bool:
        queued = sum(1 for s in self.job_state.values() if s == "queued")
        add = self.rng.randint(2, 4) if queued < 4 else 0
        lines, killed = self._worker("jobs", ["--add", str(add)])
        for line in lines:
            parts = line.split(" ", 4)
            if parts[0] == "SUBMIT":
                self.job_specs.setdefault(
                    parts[1],
                    {"seed": int(parts[2]), "count": int(parts[3]), "prompt": json.loads(parts[4])},
                )
                self.job_state.setdefault(parts[1], "queued")
            elif parts[0] == "STATE":
                self.job_state[parts[1]] = parts[2]
            elif parts[0] == "ASSET":
                self.job_assets.setdefault(parts[1], set()).add(parts[2])
                spec = self.job_specs.get(parts[1])
                self.stats.finished_assets_reported += 1
                self.registry[parts[2]] = Expect(
                    kind="sprite",
                    generator="sprites.procedural",
                    prompt=spec["prompt"] if spec else None,
                    seeds=(spec["seed"], spec["seed"] + spec["count"]) if spec else None,
                    job=parts[1],
                    state=_fresh_state(),
                )
        return killed

    def _round_gallery(self) -> bool:
        lines, killed = self._worker("gallery", [])
        tries: dict[str, tuple[str, str, Any]] = {}
        for line in lines:
            parts = line.split(" ", 5 if line.startswith("SAVED ") else 4)
            if parts[0] == "SAVED":
                aid, kind, seed, sha, prompt = parts[1], parts[2], int(parts[3]), parts[4], parts[5]
                self.stats.finished_assets_reported += 1
                self.registry[aid] = Expect(
                    kind=kind,
                    generator="campaign.save",
                    prompt=json.loads(prompt),
                    seeds=(seed, seed + 1),
                    sha256=sha,
                    state=_fresh_state(),
                )
            elif parts[0] == "TRY":
                tries[parts[1]] = (parts[2], parts[3], json.loads(parts[4]))
                if parts[2] == "delete":
                    self.deleted.add(parts[3])
            elif parts[0] == "OK":
                op, aid, value = tries.pop(parts[1])
                self.stats.finished_edits_reported += 1
                self._apply(op, aid, value, sure=True)
            elif parts[0] == "ERR":
                tries.pop(parts[1], None)
        for op, aid, value in tries.values():  # the kill landed inside this edit
            self._apply(op, aid, value, sure=False)
        return killed

    def _apply(self, op: str, aid: str, value: Any, *, sure: bool) -> None:
        exp = self.registry.get(aid)
        if op == "export":
            if sure:
                self.exports[Path(value)] = aid
            return
        if exp is None or op == "meta":
            return
        key = {
            "tags": "tags",
            "rating": "rating",
            "favorite": "favorite",
            "trash": "trashed",
            "restore": "trashed",
            "delete": "deleted",
        }[op]
        if op == "delete":
            value = True
        if sure:
            if key == "tags":
                value = sorted(t.casefold() for t in value)
            exp.state[key] = value
            exp.unsure.discard(key)
        else:
            exp.unsure.add(key)

    def _cli(self, argv: list[str], kind: str) -> tuple[Path, bool]:
        out = self.workdir / "out" / f"r{self.stats.rounds}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "genstudio", "generate", *argv, "--out", str(out)]
            + ["--project", str(self.root)],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        seen_progress = threading.Event()
        err: list[bytes] = []

        def read() -> None:
            assert proc.stderr is not None
            while True:
                b = proc.stderr.read(1)
                if not b:
                    break
                err.append(b)
                if b == b"[":
                    seen_progress.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Half the kills land anywhere from the start (imports, opening the project), half
        # once generation has begun (progress on stderr): outputs and project writes.
        if self.rng.random() < 0.5:
            seen_progress.wait(120)
        killed = self._kill_after(proc, kind)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=30)
        if not killed:
            self.stats.finished_by_itself += 1
            if proc.returncode != 0:
                self.stats.child_errors += 1
                self.stats.fail(f"{kind} CLI failed rc={proc.returncode}: {b''.join(err)[-800:]!r}")
        return out, killed

    def _register_outputs(
        self, out: Path, generator: str, kind: str, prompt: str | None, seeds: tuple[int, int]
    ) -> None:
        from genstudio.core.assets import sha256_bytes

        if not out.is_dir():
            return
        for f in sorted(out.iterdir()):
            if f.name.startswith(".") or f.suffix not in (".png", ".mid"):
                continue  # temp files and exports
            self.stats.finished_assets_reported += 1
            sha = sha256_bytes(f.read_bytes())
            self.registry[f"sha:{sha}"] = Expect(
                kind=kind,
                generator=generator,
                prompt=prompt,
                seeds=seeds,
                sha256=sha,
                state=_fresh_state(),
            )

    def _round_cli_sprite(self) -> bool:
        seed = 10**9 + self.stats.rounds * 100  # never a seed of the jobs rounds
        count = self.rng.randint(2, 6)
        prompt = f"cli {self.rng.choice(['knight', 'mage', 'rogue'])} r{self.stats.rounds}"
        argv = ["sprite", "--prompt", prompt, "--seed", str(seed), "--count", str(count)]
        if self.rng.random() < 0.5:  # and export the sheets
            argv += ["--format", self.rng.choice(["frames", "godot", "aseprite"])]
        out, killed = self._cli(argv, "cli_sprite")
        self._register_outputs(out, "sprites.procedural", "sprite", prompt, (seed, seed + count))
        return killed

    def _round_cli_music(self) -> bool:
        seed = 10**9 + self.stats.rounds * 100  # never a seed of the jobs rounds
        count = self.rng.randint(1, 2)
        argv = ["music", "--bars", "2", "--seed", str(seed), "--count", str(count)]
        out, killed = self._cli(argv, "cli_music")
        self._register_outputs(out, "music.gpt", "music", None, (seed, seed + count))
        return killed

    def _round_cli_image(self) -> bool:
        seed = 10**9 + self.stats.rounds * 100  # never a seed of the jobs rounds
        count = self.rng.randint(1, 2)
        prompt = f"cli {self.rng.choice(['red apple', 'blue gem', 'green leaf'])}"
        argv = ["image", "--prompt", prompt, "--steps", "2", "--seed", str(seed)]
        argv += ["--count", str(count)]
        out, killed = self._cli(argv, "cli_image")
        self._register_outputs(out, "images.diffusion", "image", prompt, (seed, seed + count))
        return killed

    # ------------------------------------------------------------------ checks

    def _check(self) -> None:
        from genstudio.core.assets import read_sidecar, sha256_bytes
        from genstudio.core.gallery import Query
        from genstudio.core.jobs import JOBS_FILE, JobRunner, JobState
        from genstudio.core.project import Project

        s = self.stats
        root = self.root
        r = s.rounds
        corrupt: list[str] = []
        try:
            json.loads((root / "project.json").read_bytes())
        except (OSError, ValueError) as e:
            corrupt.append(f"project.json: {e}")
        if (root / (JOBS_FILE + ".bad")).exists():
            corrupt.append("jobs.json was unreadable (moved to jobs.json.bad)")
        elif (root / JOBS_FILE).exists():
            try:
                doc = json.loads((root / JOBS_FILE).read_bytes())
                assert doc["format"] == "genstudio-jobs"
            except (OSError, ValueError, KeyError, AssertionError) as e:
                corrupt.append(f"jobs.json: {e!r}")
        p = Project.open(root)
        try:
            if p.read_only:
                corrupt.append(f"opens read-only: {p.read_only_reason}")
                return
            g = p.gallery
            rep = g.open_report
            s.sidecars_recovered += len(rep.recovered) if rep else 0
            for m in g.messages:
                if "damaged" in m or "cannot" in m:
                    corrupt.append(f"on open: {m}")
            if rep and rep.bad_sidecars:
                corrupt.append(f"bad sidecars {rep.bad_sidecars}")
            recs = g.query(Query(limit=None)) + g.query(Query(limit=None, trashed=True))
            by_id = {x.id: x for x in recs}
            by_sha: dict[str, list[Any]] = {}
            for x in recs:
                by_sha.setdefault(x.sha256, []).append(x)
                if x.status != "ok":
                    corrupt.append(f"asset {x.id} is {x.status}")
                if x.generator == "import":
                    s.degraded_assets += 1
                    s.fail(f"round {r}: {x.file} was imported without its sidecar")
            dups = sum(len(v) - 1 for v in by_sha.values() if len(v) > 1)
            if dups:
                s.duplicates += dups
                s.fail(f"round {r}: {dups} duplicate outputs")
            # finished assets: present, ok, same kind / seed / prompt / generator / edits
            for key, exp in list(self.registry.items()):
                if key.startswith("sha:"):
                    found = by_sha.get(key[4:])
                    if not found:
                        s.lost_assets += 1
                        s.fail(f"round {r}: CLI output {key} lost")
                        del self.registry[key]
                        continue
                    self.registry.pop(key)
                    key = found[0].id
                    self.registry[key] = exp
                rec = by_id.get(key)
                if rec is None:
                    if exp.state.get("deleted") is True or "deleted" in exp.unsure:
                        self.registry.pop(key)
                        continue
                    s.lost_assets += 1
                    s.fail(f"round {r}: finished asset {key} lost")
                    self.registry.pop(key)
                    continue
                bad = _compare(rec, exp)
                if bad:
                    s.degraded_assets += 1
                    s.fail(f"round {r}: asset {key} degraded: {bad}")
                    self.registry.pop(key)
                    continue
                # adopt what an unfinished edit left, now that it is on disk
                for k in list(exp.unsure):
                    if k != "deleted":
                        exp.state[k] = _state_of(rec)[k]
                exp.unsure.discard("deleted")
                exp.unsure.clear()
            # the sidecars (the truth) of a sample agree with the index
            sample = self.rng.sample(sorted(by_id), min(12, len(by_id)))
            for aid in sample:
                side = read_sidecar(p.assets_dir / f"{aid}.json")
                if _state_of(side) != _state_of(by_id[aid]) or side.sha256 != by_id[aid].sha256:
                    corrupt.append(f"index and sidecar of {aid} disagree")
                if sha256_bytes((p.assets_dir / side.file).read_bytes()) != side.sha256:
                    corrupt.append(f"asset file {side.file} damaged")
            for path, aid in list(self.exports.items()):
                s.exports_checked += 1
                src = by_id.get(aid)
                try:
                    data = path.read_bytes()
                except OSError:
                    corrupt.append(f"export {path.name} missing")
                    data = b""
                if src is not None and data and sha256_bytes(data) != src.sha256:
                    corrupt.append(f"export {path.name} damaged")
                del self.exports[path]
            # pending jobs: every job pending at the kill is restored (queued or set aside)
            pending = {j for j, st in self.job_state.items() if st in ("queued", "running")}
            runner = JobRunner(p, sync=True)
            try:
                restored = {j.id: j for j in runner.jobs()}
            finally:
                runner.shutdown()
            s.pending_jobs_at_kill += len(pending)
            prompts = Counter(x.prompt for x in recs if x.generator == "sprites.procedural")
            for jid in pending:
                job = restored.get(jid)
                spec = self.job_specs.get(jid)
                if (
                    job is None
                    and spec
                    and prompts[spec["prompt"]]
                    + sum(1 for a in self.deleted if a in self.job_assets.get(jid, ()))
                    >= spec["count"]
                ):
                    # it finished; the kill came between saving that and saying so
                    s.pending_jobs_at_kill -= 1
                elif job is not None and job.state in (JobState.QUEUED, JobState.SET_ASIDE):
                    s.pending_jobs_restored += 1
                else:
                    s.fail(f"round {r}: pending job {jid} not restored ({job})")
            for jid, job in restored.items():
                spec = job.spec.params
                self.job_specs.setdefault(
                    jid,
                    {
                        "seed": spec["seed"],
                        "count": spec.get("count", 1),
                        "prompt": spec.get("prompt", ""),
                    },
                )
                # what the job lists as made is in the project (unless the user deleted it)
                for aid in job.asset_ids:
                    if aid not in by_id and aid not in self.deleted:
                        s.lost_assets += 1
                        s.fail(f"round {r}: job {jid} lists {aid}, which is not in the project")
            self.job_state = {j: job.state.value for j, job in restored.items()}
            # the index is sound
            conn = sqlite3.connect(root / "gallery.sqlite")
            try:
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                conn.close()
            if ok != "ok":
                corrupt.append(f"integrity_check: {ok}")
        finally:
            p.close()
            if corrupt:
                s.corrupt_projects += 1
                s.fail(f"round {r}: project corrupt: {corrupt[:3]}")

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {
            "what": "crash campaign: SIGKILL from outside at random moments "
            "(tests/campaigns/crash_campaign.py)",
            "seed": self.seed,
            "kills": s.kills,
            "rounds": s.rounds,
            "children_that_finished_before_the_kill": s.finished_by_itself,
            "kills_by_scenario": dict(sorted(s.kills_by_scenario.items())),
            "projects": self.project_no,
            "corrupt_projects": s.corrupt_projects,
            "finished_assets_reported": s.finished_assets_reported,
            "finished_edits_reported": s.finished_edits_reported,
            "finished_assets_lost": s.lost_assets,
            "finished_assets_degraded": s.degraded_assets,
            "duplicates": s.duplicates,
            "pending_jobs_at_kill": s.pending_jobs_at_kill,
            "pending_jobs_restored": s.pending_jobs_restored,
            "pending_jobs_restored_pct": (
                100.0 * s.pending_jobs_restored / s.pending_jobs_at_kill
                if s.pending_jobs_at_kill
                else 100.0
            ),
            "exports_checked": s.exports_checked,
            "sidecars_recovered_from_temp_files": s.sidecars_recovered,
            "child_errors": s.child_errors,
            "failures": s.failures,
            "elapsed_s": round(getattr(self, "elapsed", 0.0), 1),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }


def _fresh_state() -> dict[str, Any]:
    return {"tags": [], "rating": 0, "favorite": False, "trashed": False, "deleted": False}


def _state_of(rec: Any) -> dict[str, Any]:
    return {
        "tags": sorted(t.casefold() for t in rec.tags),
        "rating": rec.rating,
        "favorite": rec.favorite,
        "trashed": rec.trashed,
    }


def _compare(rec: Any, exp: Expect) -> str | None:
    if exp.kind is not None and rec.kind != exp.kind:
        return f"kind {rec.kind!r} != {exp.kind!r}"
    if rec.generator != exp.generator:
        return f"generator {rec.generator!r} != {exp.generator!r}"
    if exp.prompt is not None and rec.prompt != exp.prompt:
        return f"prompt {rec.prompt!r} != {exp.prompt!r}"
    if exp.seeds is not None and not (
        isinstance(rec.seed, int) and exp.seeds[0] <= rec.seed < exp.seeds[1]
    ):
        return f"seed {rec.seed!r} not in {exp.seeds}"
    if exp.sha256 is not None and rec.sha256 != exp.sha256:
        return "sha256 changed"
    if exp.state.get("deleted") is True and "deleted" not in exp.unsure:
        return "a finished delete did not stick"
    have = _state_of(rec)
    for k, v in exp.state.items():
        if k == "deleted" or k in exp.unsure:
            continue
        if have[k] != v:
            return f"{k} is {have[k]!r}, the finished edit made it {v!r}"
    return None


def _has_line(path: Path, word: str) -> bool:
    try:
        return f"{word}\n".encode() in path.read_bytes()
    except OSError:
        return False


def _complete_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return []
    lines = raw.split("\n")
    return [ln for ln in lines[:-1] if ln]  # the last piece has no newline: cut by the kill


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("crash-campaign.json"))
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    ap.add_argument("--per-project", type=int, default=250, help="kills on one project")
    args = ap.parse_args(argv)
    import tempfile

    from genstudio.core.atomic import atomic_write_json

    work = args.workdir or Path(tempfile.mkdtemp(prefix="genstudio-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    camp = Campaign(work, args.seed, per_project=args.per_project, weights=SCENARIOS)
    camp.run(args.kills, progress=True, checkpoint=args.out)
    rep = camp.report()
    rep["workdir"] = str(work)
    atomic_write_json(args.out, rep)
    print(json.dumps({k: v for k, v in rep.items() if k != "failures"}, indent=2))
    ok = not (
        rep["corrupt_projects"]
        or rep["finished_assets_lost"]
        or rep["finished_assets_degraded"]
        or rep["duplicates"]
        or rep["pending_jobs_restored"] != rep["pending_jobs_at_kill"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
