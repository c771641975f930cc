"""One queue for all generation and training work.

A :class:`JobRunner` takes :class:`JobSpec` s (a generator name and its params as JSON), checks
the params through the generator's frozen ``Params.from_dict`` *before* anything is queued, and
runs the jobs on worker threads (ONNX Runtime releases the GIL) or, for generators with
``needs_process = True`` such as training, in a child process (see :mod:`genstudio.core.procrunner`).

Guarantees:

- Every output a generator hands to ``ctx.emit`` is written with ``project.add_asset`` at once,
  and its ``"asset"`` event comes before the job's ``DONE`` state event.
- The pending queue (queued and running jobs, plus jobs set aside) is written atomically to
  ``<project>/jobs.json`` on every state change, before the state event is sent. When a runner
  gets the project again, queued jobs come back; a job found *running* means the studio stopped
  during it: its ``crashes`` count goes up and it runs again, unless it was running at
  ``MAX_CRASHES`` crashes, in which case it is ``SET_ASIDE`` (kept and shown, never retried
  automatically) so that one poisonous job cannot crash the studio on every start.
- Outputs come in a fixed order (per seed / index). A job that runs again after a crash or an
  interruption skips the outputs ``jobs.json`` lists as made instead of writing them twice;
  the id of the output in flight is chosen and saved before it is written (``next_asset``),
  so an output that landed just before the kill is counted as made too.
- Errors are values: a failing generator gives a ``FAILED`` job with a message for the user;
  the worker thread carries on.
- A job running in a child process can be paused and resumed (:meth:`JobRunner.pause`): it
  stays ``RUNNING`` (and is saved as running, so a studio closed meanwhile queues it again),
  with the message "Paused". Generic events a generator sends with ``ctx.event`` reach the
  subscribers as ``JobEvent(type="event", name=..., data=...)``.

Threading: subscribers are called **on worker threads** (or on the caller's thread in
``sync=True`` mode). They must not touch widgets; the UI bridge re-emits them as queued Qt
signals. An exception in a subscriber is logged and never reaches the worker.

One runner per project folder at a time: two processes sharing a ``jobs.json`` would each think
the other's running jobs had crashed.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import logging
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from genstudio.core.assets import is_asset_id, new_asset_id, read_sidecar
from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import (
    Cancelled,
    GenStudioError,
    InvalidParamsError,
    JobError,
    ProjectReadOnlyError,
)

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"
JOBS_FORMAT = "genstudio-jobs"
JOBS_VERSION = 1
#: A job that was running when the studio stopped this many times is set aside.
MAX_CRASHES = 2
#: Finished jobs kept in memory (for the jobs panel) per runner; older ones are forgotten.
HISTORY_LIMIT = 200


class JobState(enum.StrEnum):
    """Lifecycle: QUEUED -> RUNNING -> DONE | FAILED | CANCELLED; SET_ASIDE after crashes."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SET_ASIDE = "set_aside"


_PENDING = (JobState.QUEUED, JobState.RUNNING)
_PERSISTED = (JobState.QUEUED, JobState.RUNNING, JobState.SET_ASIDE)
_FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class JobSpec:
    """What to run: a registered generator name and its params (JSON-compatible)."""

    generator: str
    params: dict[str, Any]
    title: str = ""


@dataclass
class Job:
    """A job's state as the user sees it. Runner methods hand out copies."""

    id: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    asset_ids: list[str] = field(default_factory=list)
    attempts: int = 0  # times it started running
    crashes: int = 0  # times the studio stopped while it was running
    created: str = field(default_factory=_now)
    finished: str | None = None
    #: The asset id the job's next output will get, chosen (and saved) before it is written,
    #: so a restore can tell whether an output in flight at a crash landed.
    next_asset: str | None = None

    @property
    def active(self) -> bool:
        return self.state in _PENDING

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["state"] = self.state.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        try:
            spec = d["spec"]
            if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict):
                raise TypeError("spec must hold a params object")
            job = cls(
                id=str(d["id"]),
                spec=JobSpec(
                    str(spec["generator"]), dict(spec["params"]), str(spec.get("title", ""))
                ),
                state=JobState(d["state"]),
                progress=float(d.get("progress", 0.0)),
                message=str(d.get("message", "")),
                error=None if d.get("error") is None else str(d["error"]),
                asset_ids=[str(a) for a in d.get("asset_ids", [])],
                attempts=int(d.get("attempts", 0)),
                crashes=int(d.get("crashes", 0)),
                created=str(d.get("created") or _now()),
                finished=None if d.get("finished") is None else str(d["finished"]),
                next_asset=(
                    d["next_asset"]
                    if isinstance(d.get("next_asset"), str) and is_asset_id(d["next_asset"])
                    else None
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise JobError(f"Bad job entry in {JOBS_FILE}: {e!r}") from e
        return job

    def copy(self) -> Job:
        return dataclasses.replace(
            self,
            spec=JobSpec(self.spec.generator, dict(self.spec.params), self.spec.title),
            asset_ids=list(self.asset_ids),
        )


class EventType(enum.StrEnum):
    """What a :class:`JobEvent` reports (a ``str``: ``EventType.STATE == "state"``)."""

    STATE = "state"  # the job's state changed
    PROGRESS = "progress"  # fraction, message and maybe a preview
    ASSET = "asset"  # an output landed in the gallery
    EVENT = "event"  # a generator's own event (name + data)


@dataclass
class JobEvent:
    """Sent to subscribers: ``type`` is an :class:`EventType` - state, progress, asset or event.

    An ``"event"`` is a generic event the generator sent with ``ctx.event(name, **data)``
    (training: loss, preview, checkpoint, and ``paused``/``resumed`` after a pause): it carries
    ``name`` and ``data`` (JSON values)."""

    job_id: str
    type: EventType
    state: JobState | None = None
    fraction: float = 0.0
    message: str = ""
    preview: bytes | None = None
    asset_id: str | None = None
    name: str | None = None
    data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.type = EventType(self.type)  # a misspelt type fails where the event is made


def _output_landed(root: Path, asset_id: str) -> bool:
    """Whether the asset ``asset_id`` was written into the project at ``root``: its sidecar is
    there, or its file is (the project writes the complete sidecar before the file, and the
    gallery recovers it from the temp file if a crash came between)."""
    assets = root / "assets"
    try:
        return (assets / f"{asset_id}.json").exists() or any(assets.glob(f"{asset_id}.*"))
    except OSError:
        return False


def _recover_in_flight(job: Job, project: Any) -> None:
    """A job found running: if the output it was writing when the studio stopped landed, it
    counts as made (it is listed, so the rerun does not write it again)."""
    nxt = job.next_asset
    root = Path(project.root)
    if nxt is not None and nxt not in job.asset_ids and _output_landed(root, nxt):
        if not (root / "assets" / f"{nxt}.json").exists():
            # Killed between the file and the sidecar's rename: reconcile puts the complete
            # temp sidecar in place (opening the gallery reconciles it with the disk).
            try:
                getattr(project, "gallery", None)
            except GenStudioError as e:
                log.warning("could not reconcile the gallery: %s", e)
        job.asset_ids.append(nxt)
        job.next_asset = None
        log.info("job %s: the output in flight at the crash (%s) was written", job.id, nxt)


def _same_output(root: Path, asset_id: str, output: Any) -> bool:
    """Whether the asset an earlier run wrote at this position is this output (same seed and
    kind). A sidecar that cannot be read (removed by the user meanwhile) still counts: the
    job made it once and must not make it again."""
    try:
        rec = read_sidecar(root / "assets" / f"{asset_id}.json")
    except GenStudioError:
        return True
    return rec.seed == getattr(output, "seed", None) and rec.kind == getattr(output, "kind", None)


class ProjectLike(Protocol):
    """What the runner needs from :class:`genstudio.core.project.Project`."""

    root: Path

    def add_asset(self, output: Any = None, **kwargs: Any) -> Any: ...


Resolver = Callable[[str], Any]


def _keeps_queue(project: ProjectLike) -> bool:
    """Whether ``project`` keeps a jobs.json: not when read-only, nor an output folder
    (:class:`genstudio.core.folder.FolderSink`, ``keeps_queue = False``)."""
    return bool(getattr(project, "keeps_queue", True)) and not getattr(project, "read_only", False)


def _registry_get(name: str) -> Any:
    # The runner lives in core, below the generators layer, but its whole purpose is to run
    # them. The registry is a plug-in point looked up by name at run time, so the static import
    # graph keeps pointing down only (import-linter checks it). Tests may inject `resolve=`.
    return importlib.import_module("genstudio.generators").get(name)


def _run_context_class() -> Any:
    return importlib.import_module("genstudio.generators.base").RunContext


def _target_of(gen: Any) -> str:
    cls = type(gen)
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(eq=False)
class _Entry:
    job: Job
    project: ProjectLike
    root: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False  # stopped by shutdown: goes back to the queue, not a crash
    resume: int = 0  # outputs an earlier (crashed or interrupted) run already wrote
    emitted: int = 0  # outputs of this run so far
    control: Any = None  # procrunner.ProcessControl while the job runs in a child process
    params: Any = None  # the generator's validated Params object (None: restored from disk)
    progress_message: str = ""  # the last progress message (shown again after a pause)
    raised: BaseException | None = None  # why it failed or stopped (raised by raise_errors)


class JobRunner:
    """The single queue for generation and training jobs of the open project.

    ``workers`` threads run jobs (default one: generation is CPU-bound and ONNX Runtime already
    uses every core); ``sync=True`` runs each job inline inside :meth:`submit` (and restored jobs
    inside :meth:`run_pending`) for deterministic tests and the command line; with
    ``raise_errors=True`` (sync only) a failed or cancelled job's exception is raised from
    :meth:`submit` after the job is recorded, so the caller reports it with its hint (the CLI's
    one error handler). ``resolve`` maps a generator name to an
    instance (default: the generator registry).
    """

    def __init__(
        self,
        project: ProjectLike | None = None,
        *,
        workers: int = 1,
        sync: bool = False,
        raise_errors: bool = False,
        resolve: Resolver | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if raise_errors and not sync:
            raise ValueError("raise_errors needs sync=True")
        self._raise_errors = raise_errors
        self._workers_wanted = workers
        self._sync = sync
        self._resolve = resolve or _registry_get
        self._cond = threading.Condition(threading.RLock())
        self._persist_lock = threading.Lock()
        self._asset_lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._subscribers: list[Callable[[JobEvent], None]] = []
        self._project: ProjectLike | None = None
        self._root: Path | None = None
        self._stopping = False
        if project is not None:
            self.set_project(project)

    # ----------------------------------------------------------------- subscribers

    def subscribe(self, fn: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call ``fn(event)`` for every event, on a worker thread. Returns an unsubscribe."""
        with self._cond:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._cond:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    def _notify(self, event: JobEvent) -> None:
        with self._cond:
            subs = list(self._subscribers)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # a broken subscriber must never kill a worker
                log.exception("job event subscriber %r failed", fn)

    def _state_event(self, entry: _Entry) -> JobEvent:
        j = entry.job
        return JobEvent(j.id, EventType.STATE, state=j.state, fraction=j.progress, message=j.message)

    # ----------------------------------------------------------------- project

    def set_project(self, project: ProjectLike | None) -> None:
        """Switch to ``project`` (or none); restores its pending queue from ``jobs.json``.

        Queued jobs of the previous project stay saved in its ``jobs.json`` and wait there;
        a job already running for it finishes and writes into it.
        """
        restored: list[_Entry] = []
        root = None if project is None else Path(project.root).resolve()
        with self._cond:
            self._check_open()
            self._project = project
            self._root = root
            self._queue.clear()
            if project is None:
                return
            known = False
            for e in self._entries.values():
                if e.root == self._root:
                    known = True
                    e.project = project
            if known:  # memory is the truth: it wrote that jobs.json
                self._queue.extend(
                    e.job.id
                    for e in self._entries.values()
                    if e.root == self._root and e.job.state == JobState.QUEUED
                )
            else:
                for job in self._load_jobs_file(project):
                    assert root is not None  # project is not None here
                    entry = _Entry(job, project, root)
                    self._entries[job.id] = entry
                    restored.append(entry)
                    if job.state == JobState.QUEUED:
                        self._queue.append(job.id)
            self._cond.notify_all()
        if restored:
            self._persist(root)
            for entry in restored:
                self._notify(self._state_event(entry))
        self._ensure_workers()

    def _load_jobs_file(self, project: ProjectLike) -> list[Job]:
        path = Path(project.root) / JOBS_FILE
        if not _keeps_queue(project) or not path.exists():
            return []
        try:
            data = read_json(path, what="job queue")
            if not isinstance(data, dict) or data.get("format") != JOBS_FORMAT:
                raise JobError(f"{path} is not a GenStudio job queue.")
            if not isinstance(data.get("version"), int) or data["version"] > JOBS_VERSION:
                raise JobError(f"{path} has an unknown version {data.get('version')!r}.")
            items = data.get("jobs")
            if not isinstance(items, list):
                raise JobError(f"{path} has no job list.")
        except GenStudioError as e:
            bad = path.with_name(JOBS_FILE + ".bad")
            log.warning("%s - the job queue starts empty; the file is kept as %s", e, bad.name)
            try:
                os.replace(path, bad)
            except OSError:
                pass
            return []
        jobs: list[Job] = []
        for item in items:
            try:
                job = Job.from_dict(item) if isinstance(item, dict) else None
            except JobError as e:
                log.warning("%s - skipped", e)
                continue
            if job is None or job.state not in _PERSISTED:
                continue
            if job.state == JobState.RUNNING:
                _recover_in_flight(job, project)
                job.crashes += 1
                job.progress = 0.0
                if job.crashes >= MAX_CRASHES:
                    job.state = JobState.SET_ASIDE
                    job.finished = _now()
                    job.message = (
                        f"Set aside: the studio stopped {job.crashes} times while this job "
                        "was running. Retry it only if you think it was not the cause."
                    )
                else:
                    job.state = JobState.QUEUED
                    job.message = "Queued again: the studio stopped while this job was running."
            jobs.append(job)
        return jobs

    # ----------------------------------------------------------------- persistence

    def _persist(self, root: Path | None) -> None:
        """Write the pending jobs of ``root`` to its jobs.json (always the latest snapshot)."""
        if root is None:
            return
        with self._persist_lock:
            with self._cond:
                entries = [e for e in self._entries.values() if e.root == root]
                if self._root == root:
                    project = self._project
                else:
                    project = entries[-1].project if entries else None
                if project is None or not _keeps_queue(project):
                    return
                jobs = [e.job.to_dict() for e in entries if e.job.state in _PERSISTED]
            doc = {"format": JOBS_FORMAT, "version": JOBS_VERSION, "saved": _now(), "jobs": jobs}
            try:
                atomic_write_json(Path(project.root) / JOBS_FILE, doc)
            except GenStudioError as e:  # never kill a worker over the queue file
                log.error("could not save the job queue: %s", e)

    # ----------------------------------------------------------------- public API

    def submit(self, spec: JobSpec) -> Job:
        """Validate and queue ``spec``; in sync mode run it before returning."""
        gen = self._resolve(spec.generator)
        params = gen.Params.from_dict(dict(spec.params))  # raises InvalidParamsError
        try:
            json.dumps(spec.params)
        except (TypeError, ValueError) as e:
            raise InvalidParamsError(f"Parameters must be plain JSON values: {e}") from e
        with self._cond:
            self._check_open()
            project = self._project
            if project is None or self._root is None:
                raise JobError("No project is open.", hint="Open or create a project first.")
            if getattr(project, "read_only", False):
                reason = getattr(project, "read_only_reason", None) or "it was opened read-only"
                raise ProjectReadOnlyError(f"Cannot run jobs in this project: {reason}.")
            title = spec.title or spec.generator
            job = Job(
                id=f"j{secrets.token_hex(6)}",
                spec=JobSpec(spec.generator, dict(spec.params), title),
            )
            entry = _Entry(job, project, self._root, params=params)
            self._entries[job.id] = entry
            if not self._sync:
                self._queue.append(job.id)
            self._trim_history()
            self._cond.notify_all()
        return self._start(entry)

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a queued one is dropped; a running one is asked to stop (thread jobs
        at their next ``check_cancel``, child-process jobs are killed); a set-aside job is
        dismissed. Finished jobs are left as they are."""
        with self._cond:
            entry = self._entry(job_id)
            job = entry.job
            if job.state == JobState.RUNNING:
                entry.cancel.set()
                job.message = "Cancelling..."
                event = self._state_event(entry)
                persist = False
            elif job.state in (JobState.QUEUED, JobState.SET_ASIDE):
                if job_id in self._queue:
                    self._queue.remove(job_id)
                job.state = JobState.CANCELLED
                job.message = "Cancelled."
                job.finished = _now()
                event = self._state_event(entry)
                persist = True
                self._cond.notify_all()
            else:
                return
        if persist:
            self._persist(entry.root)
        self._notify(event)

    def pause(self, job_id: str) -> None:
        """Pause a running child-process job (training): it stops at its next
        ``check_cancel`` until :meth:`resume`. Cancel and shutdown still stop it. Raises
        :class:`JobError` for a job that is not running in a child process."""
        with self._cond:
            entry = self._entry(job_id)
            control = self._control_of(entry, "paused")
            if control.paused:
                return
            entry.job.message = "Pausing..."
        control.pause()
        self._notify_state(entry)

    def resume(self, job_id: str) -> None:
        """Let a job paused with :meth:`pause` go on (a no-op for one that is not paused)."""
        with self._cond:
            entry = self._entry(job_id)
            control = self._control_of(entry, "resumed")
            if not control.paused:
                return
            entry.job.message = "Resuming..."
        control.resume()
        self._notify_state(entry)

    def is_paused(self, job_id: str) -> bool:
        """Whether a pause was asked for this running job (and not resumed since)."""
        with self._cond:
            control = self._entry(job_id).control
            return control is not None and bool(control.paused)

    def _control_of(self, entry: _Entry, verb: str) -> Any:
        job = entry.job
        if job.state != JobState.RUNNING:
            raise JobError(f"Only a running job can be {verb}; this one is {job.state.value}.")
        if entry.control is None:
            raise JobError(
                f"This job cannot be {verb}: only jobs that run in a process of their own "
                "(such as training) can be paused.",
                hint="Cancel it instead.",
            )
        return entry.control

    def _notify_state(self, entry: _Entry) -> None:
        with self._cond:
            event = self._state_event(entry)
        self._notify(event)

    def retry(self, job_id: str) -> Job:
        """Queue a finished, failed, cancelled or set-aside job again (same id)."""
        with self._cond:
            entry = self._entry(job_id)
            if entry.job.active:
                raise JobError("This job is already queued or running.")
        gen = self._resolve(entry.job.spec.generator)
        entry.params = gen.Params.from_dict(dict(entry.job.spec.params))
        with self._cond:
            self._check_open()
            job = entry.job
            if job.active:
                raise JobError("This job is already queued or running.")
            job.state = JobState.QUEUED
            job.progress = 0.0
            job.message = ""
            job.error = None
            job.finished = None
            job.asset_ids = []
            job.next_asset = None
            entry.cancel = threading.Event()
            entry.interrupted = False
            # A retried job goes to the end of the list, like a new one.
            self._entries.pop(job_id)
            self._entries[job_id] = entry
            if not self._sync and entry.root == self._root:
                self._queue.append(job_id)
            self._cond.notify_all()
        return self._start(entry)

    def _start(self, entry: _Entry) -> Job:
        """Persist a (re)queued job, announce it, then run it (sync) or wake the workers."""
        self._persist(entry.root)
        self._notify(self._state_event(entry))
        if self._sync:
            self._run_one(entry)
        else:
            self._ensure_workers()
        return self.get(entry.job.id)

    def run_pending(self) -> None:
        """Sync mode: run the queued (restored) jobs inline, in order. A no-op otherwise."""
        if not self._sync:
            return
        while True:
            with self._cond:
                if not self._queue or self._stopping:
                    return
                entry = self._entries[self._queue.popleft()]
            self._run_one(entry)

    def jobs(self) -> list[Job]:
        """Jobs of the current project (oldest first), plus any still running elsewhere."""
        with self._cond:
            return [
                e.job.copy()
                for e in self._entries.values()
                if e.root == self._root or e.job.state == JobState.RUNNING
            ]

    def get(self, job_id: str) -> Job:
        with self._cond:
            return self._entry(job_id).job.copy()

    def clear_finished(self) -> None:
        """Forget done, failed and cancelled jobs (they are not in jobs.json anyway)."""
        with self._cond:
            for jid in [j for j, e in self._entries.items() if e.job.state in _FINISHED]:
                del self._entries[jid]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._running and (not self._queue or self._stopping or self._sync),
                timeout,
            )

    def shutdown(self, wait: bool = True, *, timeout: float | None = None) -> None:
        """Stop the workers. Queued jobs stay saved; running jobs are asked to stop (child
        processes are killed) and go back to the queue, to run again next time. ``wait`` joins
        the worker threads (up to ``timeout`` seconds)."""
        with self._cond:
            if self._stopping:
                threads = list(self._threads)
            else:
                self._stopping = True
                for jid in self._running:
                    entry = self._entries[jid]
                    entry.interrupted = True
                    entry.cancel.set()
                threads = list(self._threads)
                self._cond.notify_all()
        if wait:
            for t in threads:
                t.join(timeout)
        with self._cond:
            self._threads = [t for t in self._threads if t.is_alive()]

    # ----------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._stopping:
            raise JobError("The job runner has been shut down.")

    def _entry(self, job_id: str) -> _Entry:
        try:
            return self._entries[job_id]
        except KeyError:
            raise JobError(f"Unknown job {job_id!r}.") from None

    def _trim_history(self) -> None:
        finished = [j for j, e in self._entries.items() if e.job.state in _FINISHED]
        for jid in finished[: max(0, len(finished) - HISTORY_LIMIT)]:
            del self._entries[jid]

    def _ensure_workers(self) -> None:
        if self._sync:
            return
        with self._cond:
            if self._stopping or not self._queue:
                return
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self._workers_wanted:
                t = threading.Thread(
                    target=self._worker,
                    name=f"genstudio-job-{len(self._threads) + 1}",
                    daemon=True,
                )
                self._threads.append(t)
                t.start()

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._queue:
                    self._cond.wait()
                if self._stopping:
                    return
                entry = self._entries[self._queue.popleft()]
            self._run_one(entry)

    def _run_one(self, entry: _Entry) -> None:
        job = entry.job
        with self._cond:
            if job.state != JobState.QUEUED:
                return
            job.state = JobState.RUNNING
            job.attempts += 1
            job.progress = 0.0
            job.message = "Starting..." if not job.asset_ids else "Resuming..."
            # Outputs come per seed / index in a fixed order: a rerun skips those already
            # written (listed in jobs.json) instead of writing them a second time.
            entry.resume, entry.emitted = len(job.asset_ids), 0
            entry.raised = None
            job.next_asset = new_asset_id()  # the restore has looked at the previous one
            self._running.add(job.id)
        try:
            self._persist(entry.root)
            self._notify(self._state_event(entry))
            state, error, message = self._execute(entry)
        except KeyboardInterrupt as e:  # Ctrl-C during a sync job (the command line)
            entry.raised = e
            state, error, message = JobState.CANCELLED, None, "Cancelled."
        except BaseException as e:  # a bug in the runner itself: the job fails, not the worker
            log.exception("job runner error")
            state, error, message = JobState.FAILED, f"Internal error: {e!r}", "Failed."
        with self._cond:
            if state == JobState.QUEUED:  # interrupted by shutdown
                job.progress = 0.0
            elif state == JobState.DONE:
                job.progress = 1.0
            job.state = state
            job.error = error
            job.message = message
            job.finished = None if state == JobState.QUEUED else _now()
            event = self._state_event(entry)
        try:
            self._persist(entry.root)
            self._notify(event)
        finally:
            # Only now is the runner idle: the queue file and the subscribers are up to date.
            with self._cond:
                self._running.discard(job.id)
                self._trim_history()
                self._cond.notify_all()
        if entry.raised is not None and (
            self._raise_errors or isinstance(entry.raised, KeyboardInterrupt)
        ):
            raise entry.raised

    def _execute(self, entry: _Entry) -> tuple[JobState, str | None, str]:
        """Run one job; returns (final state, error, message)."""
        job = entry.job
        info: dict = {}
        try:
            gen = self._resolve(job.spec.generator)
            # validated once, at submit; a job restored from the queue file is checked again
            params = entry.params
            if params is None:
                params = gen.Params.from_dict(dict(job.spec.params))
            if getattr(gen, "needs_process", False):
                from genstudio.core.procrunner import ProcessControl, run_in_process

                control = ProcessControl()
                with self._cond:
                    entry.control = control
                try:
                    info = run_in_process(
                        _target_of(gen),
                        dict(job.spec.params),
                        on_progress=lambda f, m, p: self._on_progress(entry, f, m, p),
                        on_output=lambda out: self._on_output(entry, out),
                        cancel_event=entry.cancel,
                        on_event=lambda name, data: self._on_event(entry, name, data),
                        control=control,
                        # a training child writes a checkpoint when cancelled: give it time
                        grace=getattr(gen, "cancel_grace", None),
                    )
                finally:
                    with self._cond:
                        entry.control = None
            else:
                ctx = _run_context_class()(
                    progress=lambda f, m, p: self._on_progress(entry, f, m, p),
                    emit=lambda out: self._on_output(entry, out),
                    cancel_event=entry.cancel,
                    on_event=lambda name, data: self._on_event(entry, name, data),
                )
                result = gen.run(params, ctx)
                info = getattr(result, "info", None) or {}
        except Cancelled as e:
            entry.raised = e
            if entry.interrupted:
                return JobState.QUEUED, None, "Interrupted when the studio closed; queued again."
            return JobState.CANCELLED, None, "Cancelled."
        except GenStudioError as e:
            entry.raised = e
            # with raise_errors the caller reports it (the CLI: once, with its hint)
            level = logging.INFO if self._raise_errors else logging.WARNING
            log.log(level, "job %s (%s) failed: %s", job.id, job.spec.generator, e.user_message())
            return JobState.FAILED, e.user_message(), "Failed."
        except Exception as e:
            entry.raised = e
            log.exception("job %s (%s) failed unexpectedly", job.id, job.spec.generator)
            msg = f"Unexpected error: {type(e).__name__}: {e} (details in the log file)"
            return JobState.FAILED, msg, "Failed."
        n = len(job.asset_ids)
        summary = info.get("summary") if isinstance(info, dict) else None
        if isinstance(summary, str) and summary and not n:  # e.g. a training job: its model
            return JobState.DONE, None, f"Done: {summary[:200]}"
        return JobState.DONE, None, f"Done ({n} result{'s' if n != 1 else ''})."

    def _on_progress(self, entry: _Entry, fraction: float, message: str, preview: bytes | None):
        with self._cond:
            entry.job.progress = fraction
            entry.job.message = message
            entry.progress_message = message
        self._notify(
            JobEvent(
                entry.job.id,
                EventType.PROGRESS,
                state=JobState.RUNNING,
                fraction=fraction,
                message=message,
                preview=preview,
            )
        )

    def _on_event(self, entry: _Entry, name: str, data: dict[str, Any]) -> None:
        """A generic event from the generator; ``paused``/``resumed`` also set the message."""
        state_changed = False
        with self._cond:
            job = entry.job
            if name == "paused" and entry.control is not None:
                job.message, state_changed = "Paused", True
            elif name == "resumed" and entry.control is not None:
                job.message, state_changed = entry.progress_message or "Running...", True
            event = JobEvent(
                job.id,
                EventType.EVENT,
                state=JobState.RUNNING,
                fraction=job.progress,
                message=job.message,
                name=name,
                data=data,
            )
        self._notify(event)
        if state_changed:
            self._notify_state(entry)

    def _on_output(self, entry: _Entry, output: Any) -> str:
        with self._cond:
            index = entry.emitted
            entry.emitted += 1
            done = entry.job.asset_ids[index] if index < entry.resume else None
            wanted = entry.job.next_asset
        if done is not None and _same_output(entry.root, done, output):
            log.info(
                "job %s: output %d was written before (%s); skipped", entry.job.id, index, done
            )
            return done
        with self._asset_lock:  # one writer at a time into the project
            rec = entry.project.add_asset(
                output, generator=entry.job.spec.generator, asset_id=wanted
            )
        asset_id = str(rec.id)
        with self._cond:
            entry.job.asset_ids.append(asset_id)
            entry.job.next_asset = new_asset_id()
        self._persist(entry.root)  # so a crash later still knows what this job produced
        self._notify(JobEvent(entry.job.id, EventType.ASSET, state=JobState.RUNNING, asset_id=asset_id))
        return asset_id
