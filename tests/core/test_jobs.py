"""JobRunner: validation, events, assets before DONE, persistence and crash counting, cancel,
retry, worker threads and child processes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from genstudio import generators
from genstudio.core import procrunner
from genstudio.core.errors import InvalidParamsError, JobError, ProjectReadOnlyError
from genstudio.core.gallery import Query
from genstudio.core.jobs import JOBS_FILE, Job, JobEvent, JobRunner, JobSpec, JobState
from genstudio.core.project import Project
from tests.helpers.fakeproject import FakeProject
from tests.helpers.gens import ProcSlowGen, SlowGen


@pytest.fixture(autouse=True)
def _generators():
    generators.register("test.slow", SlowGen)
    generators.register("test.proc", ProcSlowGen)
    yield
    generators.unregister("test.slow")
    generators.unregister("test.proc")


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name.startswith("genstudio-job")]
        if not left:
            return
        time.sleep(0.02)
    pytest.fail(f"job threads left running: {left}")


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "proj", name="jobs")
    yield proj
    proj.close()


@pytest.fixture
def fake_project(tmp_path):
    """For tests that inject failures or look at the Output objects themselves."""
    return FakeProject(tmp_path / "fake")


def stored(project) -> set[str]:
    return {r.id for r in project.gallery.query(Query(limit=10_000))}


@pytest.fixture
def make_runner():
    made: list[JobRunner] = []

    def make(*args, **kwargs) -> JobRunner:
        r = JobRunner(*args, **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.shutdown(wait=True, timeout=10)


class Recorder:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, ev: JobEvent) -> None:
        with self.lock:
            self.events.append(ev)
            self.threads.add(threading.current_thread().name)

    def kinds(self, job_id: str) -> list[str]:
        with self.lock:
            return [
                e.state.value if e.type == "state" else e.type
                for e in self.events
                if e.job_id == job_id
            ]


def read_jobs_file(project) -> list[dict]:
    data = json.loads((Path(project.root) / JOBS_FILE).read_text("utf-8"))
    assert data["format"] == "genstudio-jobs"
    return data["jobs"]


def write_jobs_file(project, jobs: list[Job]) -> None:
    doc = {"format": "genstudio-jobs", "version": 1, "jobs": [j.to_dict() for j in jobs]}
    (Path(project.root) / JOBS_FILE).write_text(json.dumps(doc), "utf-8")


def spec(steps=2, **kw) -> JobSpec:
    return JobSpec("test.slow", {"steps": steps, **kw})


def wait_for(pred, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# ------------------------------------------------------------------------- sync mode


def test_sync_submit_writes_each_output_as_an_asset_before_done(project, make_runner):
    runner = make_runner(project, sync=True)
    rec = Recorder()
    runner.subscribe(rec)
    job = runner.submit(spec(steps=3, seed=7))
    assert job.state == JobState.DONE
    assert job.progress == 1.0
    assert job.attempts == 1 and job.crashes == 0 and job.finished
    assert len(job.asset_ids) == 3
    assert stored(project) == set(job.asset_ids)
    for aid in job.asset_ids:
        asset = project.gallery.get(aid)
        assert asset.generator == "test.slow" and asset.seed == 7
        assert project.asset_path(asset).read_bytes().startswith(b"\x89PNG")
    kinds = rec.kinds(job.id)
    assert kinds[:2] == ["queued", "running"]
    assert kinds[-1] == "done"
    assert kinds.count("asset") == 3 and kinds.count("progress") == 3
    assert kinds.index("done") > max(i for i, k in enumerate(kinds) if k == "asset")
    progress = [e for e in rec.events if e.type == "progress"]
    assert [round(e.fraction, 3) for e in progress] == [0.333, 0.667, 1.0]
    assert progress[0].preview.startswith(b"\x89PNG")
    # sync mode: events arrive on the caller's thread
    assert rec.threads == {threading.current_thread().name}
    # finished jobs are not part of the saved queue
    assert read_jobs_file(project) == []
    assert job.spec.title == "test.slow"


def test_invalid_params_are_refused_before_queueing(project, make_runner):
    runner = make_runner(project, sync=True)
    with pytest.raises(InvalidParamsError, match="steps must be at least 1"):
        runner.submit(spec(steps=0))
    with pytest.raises(InvalidParamsError, match="Unknown parameter"):
        runner.submit(JobSpec("test.slow", {"colour": "red"}))
    with pytest.raises(InvalidParamsError, match="Unknown generator"):
        runner.submit(JobSpec("no.such", {}))
    with pytest.raises(InvalidParamsError, match="plain JSON"):
        runner.submit(JobSpec("test.slow", {"seed": {1, 2}}))
    assert runner.jobs() == []
    assert not (Path(project.root) / JOBS_FILE).exists()


def test_needs_a_writable_project(tmp_path, make_runner):
    with pytest.raises(JobError, match="No project"):
        make_runner(sync=True).submit(spec())
    ro = FakeProject(tmp_path / "ro", read_only=True)
    with pytest.raises(ProjectReadOnlyError):
        make_runner(ro, sync=True).submit(spec())


def test_generator_errors_become_failed_jobs(project, make_runner, caplog):
    runner = make_runner(project, sync=True)
    user = runner.submit(spec(steps=3, fail_at=1, fail_kind="user"))
    assert user.state == JobState.FAILED
    assert user.error == "The tiny generator failed.\nChange its params."
    assert len(user.asset_ids) == 1  # the output made before the failure is kept
    assert stored(project) == set(user.asset_ids)
    bug = runner.submit(spec(steps=3, fail_at=0, fail_kind="bug"))
    assert bug.state == JobState.FAILED
    assert bug.error.startswith("Unexpected error: RuntimeError: boom")
    assert "Traceback" in caplog.text  # the details go to the log
    ok = runner.submit(spec(steps=1))
    assert ok.state == JobState.DONE


def test_failed_asset_write_fails_the_job(fake_project, make_runner):
    from genstudio.core.errors import GenStudioError

    project = fake_project
    runner = make_runner(project, sync=True)
    project.fail_next_add = GenStudioError("Could not write x: No space left on device")
    job = runner.submit(spec(steps=2))
    assert job.state == JobState.FAILED
    assert "No space left" in job.error


def test_broken_subscriber_does_not_stop_the_job(project, make_runner, caplog):
    runner = make_runner(project, sync=True)

    def broken(ev):
        raise ValueError("subscriber bug")

    runner.subscribe(broken)
    rec = Recorder()
    unsubscribe = runner.subscribe(rec)
    assert runner.submit(spec()).state == JobState.DONE
    assert "subscriber bug" in caplog.text
    unsubscribe()
    n = len(rec.events)
    runner.submit(spec())
    assert len(rec.events) == n


def test_retry_requeues_the_same_job(project, make_runner):
    runner = make_runner(project, sync=True)
    job = runner.submit(spec(steps=2, fail_at=1))
    assert job.state == JobState.FAILED
    again = runner.retry(job.id)
    assert again.id == job.id
    assert again.state == JobState.FAILED and again.attempts == 2  # still fails at step 1
    with pytest.raises(JobError, match="Unknown job"):
        runner.retry("nope")


# ------------------------------------------------------------------ persistence


def test_restore_counts_crashes_and_sets_aside_at_two(project, make_runner):
    first = Job("j1", JobSpec("test.slow", {"steps": 1}), JobState.RUNNING, attempts=1)
    second = Job("j2", JobSpec("test.slow", {"steps": 1}), JobState.RUNNING, crashes=1)
    waiting = Job("j3", JobSpec("test.slow", {"steps": 1}), JobState.QUEUED)
    aside = Job("j4", JobSpec("test.slow", {"steps": 1}), JobState.SET_ASIDE, crashes=3)
    done = Job("j5", JobSpec("test.slow", {"steps": 1}), JobState.DONE)
    write_jobs_file(project, [first, second, waiting, aside, done])

    runner = make_runner(project, sync=True)
    jobs = {j.id: j for j in runner.jobs()}
    assert set(jobs) == {"j1", "j2", "j3", "j4"}
    assert (jobs["j1"].state, jobs["j1"].crashes) == (JobState.QUEUED, 1)
    assert (jobs["j2"].state, jobs["j2"].crashes) == (JobState.SET_ASIDE, 2)
    assert "stopped 2 times" in jobs["j2"].message
    assert (jobs["j3"].state, jobs["j3"].crashes) == (JobState.QUEUED, 0)
    assert jobs["j4"].state == JobState.SET_ASIDE
    # the new counts are saved at once, so a crash right now does not count twice
    saved = {d["id"]: d for d in read_jobs_file(project)}
    assert saved["j1"]["state"] == "queued" and saved["j1"]["crashes"] == 1
    assert saved["j2"]["state"] == "set_aside"

    runner.run_pending()
    jobs = {j.id: j for j in runner.jobs()}
    assert jobs["j1"].state == JobState.DONE and jobs["j3"].state == JobState.DONE
    assert jobs["j2"].state == JobState.SET_ASIDE and jobs["j2"].attempts == 0  # not retried
    assert {d["id"] for d in read_jobs_file(project)} == {"j2", "j4"}  # kept, visible

    # the user may still retry or dismiss a set-aside job
    assert runner.retry("j2").state == JobState.DONE
    runner.cancel("j4")
    assert runner.get("j4").state == JobState.CANCELLED
    assert read_jobs_file(project) == []


def test_threaded_runner_resumes_a_restored_queue(project, make_runner):
    write_jobs_file(project, [Job("jx", JobSpec("test.slow", {"steps": 2}), JobState.QUEUED)])
    runner = make_runner(project)
    assert runner.wait_idle(10)
    assert runner.get("jx").state == JobState.DONE
    assert stored(project) == set(runner.get("jx").asset_ids) and len(stored(project)) == 2


def test_corrupt_queue_file_is_kept_aside(project, make_runner, caplog):
    (Path(project.root) / JOBS_FILE).write_text("{not json", "utf-8")
    runner = make_runner(project, sync=True)
    assert runner.jobs() == []
    assert (Path(project.root) / (JOBS_FILE + ".bad")).read_text("utf-8") == "{not json"
    assert "job queue starts empty" in caplog.text
    runner.submit(spec())
    assert read_jobs_file(project) == []


def test_bad_entries_are_skipped(project, make_runner):
    good = Job("ok", JobSpec("test.slow", {"steps": 1}), JobState.QUEUED).to_dict()
    doc = {"format": "genstudio-jobs", "version": 1, "jobs": [{"id": "x"}, 3, good]}
    (Path(project.root) / JOBS_FILE).write_text(json.dumps(doc), "utf-8")
    runner = make_runner(project, sync=True)
    assert [j.id for j in runner.jobs()] == ["ok"]


# ---------------------------------------------------------------- worker threads


def test_queue_is_saved_while_jobs_run_and_cancel_works(project, make_runner):
    runner = make_runner(project)
    rec = Recorder()
    runner.subscribe(rec)
    blocker = runner.submit(spec(steps=1, wait_cancel=True))
    waiting = runner.submit(spec(steps=1))
    wait_for(lambda: "running" in rec.kinds(blocker.id))  # sent once the queue file is saved
    saved = {d["id"]: d["state"] for d in read_jobs_file(project)}
    assert saved == {blocker.id: "running", waiting.id: "queued"}

    runner.cancel(waiting.id)  # queued: dropped at once
    assert runner.get(waiting.id).state == JobState.CANCELLED
    assert [d["id"] for d in read_jobs_file(project)] == [blocker.id]
    runner.cancel(blocker.id)  # running: cooperative
    assert runner.wait_idle(10)
    assert runner.get(blocker.id).state == JobState.CANCELLED
    assert runner.get(blocker.id).attempts == 1
    assert runner.get(waiting.id).attempts == 0
    assert read_jobs_file(project) == []
    # events came from the worker thread, not from this one
    assert any(name.startswith("genstudio-job") for name in rec.threads)
    runner.cancel(blocker.id)  # cancelling a finished job is a no-op


def test_worker_survives_failures_and_runs_jobs_in_order(project, make_runner):
    runner = make_runner(project)
    ids = [
        runner.submit(spec(steps=1, fail_at=0, fail_kind="bug")).id,
        runner.submit(spec(steps=1)).id,
        runner.submit(spec(steps=1, fail_at=0)).id,
        runner.submit(spec(steps=2)).id,
    ]
    assert runner.wait_idle(10)
    states = [runner.get(i).state for i in ids]
    assert states == [JobState.FAILED, JobState.DONE, JobState.FAILED, JobState.DONE]
    assert [j.id for j in runner.jobs()] == ids


def test_two_workers_run_side_by_side(project, make_runner):
    runner = make_runner(project, workers=2)
    a = runner.submit(spec(steps=1, wait_cancel=True))
    b = runner.submit(spec(steps=1, wait_cancel=True))
    wait_for(lambda: all(runner.get(j.id).state == JobState.RUNNING for j in (a, b)))
    assert not runner.wait_idle(0.05)
    runner.cancel(a.id)
    runner.cancel(b.id)
    assert runner.wait_idle(10)


def test_shutdown_puts_running_jobs_back_in_the_queue(project, make_runner):
    runner = make_runner(project)
    job = runner.submit(spec(steps=1, wait_cancel=True))
    later = runner.submit(spec(steps=1))
    wait_for(lambda: runner.get(job.id).state == JobState.RUNNING)
    runner.shutdown(wait=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("genstudio-job")]
    saved = {d["id"]: d for d in read_jobs_file(project)}
    assert saved[job.id]["state"] == "queued" and saved[job.id]["crashes"] == 0
    assert saved[later.id]["state"] == "queued"
    with pytest.raises(JobError, match="shut down"):
        runner.submit(spec())

    again = make_runner(project, sync=True)
    assert [j.state for j in again.jobs()] == [JobState.QUEUED, JobState.QUEUED]


def test_switching_projects_keeps_each_queue(tmp_path, make_runner):
    p1, p2 = FakeProject(tmp_path / "a"), FakeProject(tmp_path / "b")
    runner = make_runner(p1)
    blocker = runner.submit(spec(steps=1, wait_cancel=True))
    queued = runner.submit(spec(steps=1))
    wait_for(lambda: runner.get(blocker.id).state == JobState.RUNNING)
    runner.set_project(p2)
    other = runner.submit(spec(steps=1))
    wait_for(lambda: runner.get(other.id).state == JobState.QUEUED)
    ids = [j.id for j in runner.jobs()]
    assert queued.id not in ids and blocker.id in ids  # still running for p1
    runner.cancel(blocker.id)
    assert runner.wait_idle(10)
    assert runner.get(other.id).state == JobState.DONE
    assert [d["id"] for d in read_jobs_file(p1)] == [queued.id]  # waits in p1's queue
    assert runner.get(queued.id).state == JobState.QUEUED
    runner.set_project(p1)  # back: it runs
    assert runner.wait_idle(10)
    assert runner.get(queued.id).state == JobState.DONE
    assert read_jobs_file(p1) == []


# ---------------------------------------------------------------- child processes


def proc_spec(steps=2, **kw) -> JobSpec:
    return JobSpec("test.proc", {"steps": steps, **kw})


def test_process_job_writes_assets_from_the_parent(fake_project, make_runner):
    project = fake_project
    runner = make_runner(project, sync=True)
    rec = Recorder()
    runner.subscribe(rec)
    job = runner.submit(proc_spec(steps=3, seed=4))
    assert job.state == JobState.DONE, job.error
    assert len(job.asset_ids) == 3
    pids = {o.extra["pid"] for o in project.outputs}
    assert len(pids) == 1 and os.getpid() not in pids  # made in a child ...
    assert [r.id for r in project.records] == job.asset_ids  # ... written here
    kinds = rec.kinds(job.id)
    assert kinds.count("progress") == 3 and kinds.count("asset") == 3
    assert kinds[-1] == "done"
    assert any(e.preview and e.preview.startswith(b"\x89PNG") for e in rec.events)


def test_process_job_errors_come_back_as_messages(project, make_runner, caplog):
    runner = make_runner(project, sync=True)
    user = runner.submit(proc_spec(steps=2, fail_at=1))
    assert user.state == JobState.FAILED
    assert user.error == "The tiny generator failed.\nChange its params."
    assert len(user.asset_ids) == 1
    bug = runner.submit(proc_spec(steps=2, fail_at=0, fail_kind="bug"))
    assert bug.state == JobState.FAILED
    assert bug.error.startswith("Unexpected error") and "RuntimeError: boom" in bug.error
    assert "Traceback" in caplog.text and "boom" in caplog.text


def test_child_that_dies_fails_the_job_and_keeps_earlier_assets(project, make_runner):
    runner = make_runner(project, sync=True)
    job = runner.submit(proc_spec(steps=3, exit_at=1))
    assert job.state == JobState.FAILED
    assert "worker process stopped unexpectedly (exit code 3)" in job.error
    assert len(job.asset_ids) == 1 and stored(project) == set(job.asset_ids)


@pytest.mark.parametrize("ignore_cancel", [False, True], ids=["cooperative", "killed"])
def test_cancel_stops_the_child_process(project, make_runner, monkeypatch, ignore_cancel):
    monkeypatch.setattr(procrunner, "CANCEL_GRACE", 0.3)
    runner = make_runner(project)
    rec = Recorder()
    runner.subscribe(rec)
    job = runner.submit(proc_spec(steps=1, wait_cancel=True, ignore_cancel=ignore_cancel))
    wait_for(lambda: "asset" in rec.kinds(job.id), timeout=30)  # the child is up and working
    t0 = time.monotonic()
    runner.cancel(job.id)
    assert runner.wait_idle(15)
    assert time.monotonic() - t0 < 5
    final = runner.get(job.id)
    assert final.state == JobState.CANCELLED
    assert len(final.asset_ids) == 1


def test_shutdown_kills_a_running_child_and_requeues_its_job(project, make_runner, monkeypatch):
    monkeypatch.setattr(procrunner, "CANCEL_GRACE", 0.3)
    runner = make_runner(project)
    rec = Recorder()
    runner.subscribe(rec)
    job = runner.submit(proc_spec(steps=1, wait_cancel=True, ignore_cancel=True))
    wait_for(lambda: "asset" in rec.kinds(job.id), timeout=30)
    runner.shutdown(wait=True, timeout=15)
    saved = {d["id"]: d for d in read_jobs_file(project)}
    assert saved[job.id]["state"] == "queued" and saved[job.id]["crashes"] == 0


def test_assets_land_in_a_real_project(tmp_path, make_runner):
    proj = Project.create(tmp_path / "real", name="jobs")
    try:
        runner = make_runner(proj, sync=True)
        jobs = [runner.submit(spec(steps=2, seed=3)), runner.submit(proc_spec(steps=1, seed=4))]
        for job in jobs:
            assert job.state == JobState.DONE, job.error
            for aid in job.asset_ids:
                rec = proj.gallery.get(aid)
                assert rec.generator == job.spec.generator
                assert rec.params["seed"] == job.spec.params["seed"]
                assert proj.asset_path(rec).read_bytes().startswith(b"\x89PNG")
        assert len(jobs[0].asset_ids) == 2 and len(jobs[1].asset_ids) == 1
        runner.shutdown()
    finally:
        proj.close()


# ------------------------------------------------------- pause, resume, generic events


@pytest.fixture
def child_gens():
    from tests.helpers import child_gens as cg

    class InlineEvents(cg.Events):
        name = "test.inline.events"
        needs_process = False

    names = {
        "test.child.looper": cg.Looper,
        "test.child.events": cg.Events,
        "test.inline.events": InlineEvents,
    }
    for name, cls in names.items():
        generators.register(name, cls)
    yield cg
    for name in names:
        generators.unregister(name)


def generic_events(rec: Recorder, job_id: str) -> list[tuple[str, dict]]:
    with rec.lock:
        return [(e.name, e.data) for e in rec.events if e.job_id == job_id and e.type == "event"]


@pytest.mark.parametrize("generator", ["test.child.events", "test.inline.events"])
def test_generic_events_reach_subscribers(project, make_runner, child_gens, generator):
    runner = make_runner(project, sync=True)
    rec = Recorder()
    runner.subscribe(rec)
    job = runner.submit(JobSpec(generator, {"count": 2}))
    assert job.state == JobState.DONE, job.error
    events = generic_events(rec, job.id)
    assert [n for n, _ in events] == ["loss", "loss", "checkpoint", "nan"]
    assert events[1][1] == {"step": 1, "loss": 0.5, "lr": 1e-3}
    assert rec.kinds(job.id)[-1] == "done"


def test_pause_and_resume_a_process_job(project, make_runner, child_gens, tmp_path):
    runner = make_runner(project)
    rec = Recorder()
    runner.subscribe(rec)
    counter = tmp_path / "n"
    job = runner.submit(JobSpec("test.child.looper", {"counter": str(counter)}))
    wait_for(counter.exists, timeout=30)
    runner.pause(job.id)
    assert runner.is_paused(job.id)
    wait_for(lambda: runner.get(job.id).message == "Paused", timeout=30)
    at_pause = int(counter.read_text())
    names = [n for n, _ in generic_events(rec, job.id)]
    assert names[-1] == "paused" and names.count("paused") == 1
    # still running as far as the queue file knows: a studio closed now queues it again
    saved = {d["id"]: d for d in read_jobs_file(project)}
    assert saved[job.id]["state"] == "running"
    runner.pause(job.id)  # pausing a paused job changes nothing
    time.sleep(0.3)  # (not an assertion on timing: the counter must not move at all)
    assert int(counter.read_text()) == at_pause
    runner.resume(job.id)
    assert not runner.is_paused(job.id)
    wait_for(lambda: int(counter.read_text()) > at_pause + 2, timeout=30)
    wait_for(lambda: "resumed" in [n for n, _ in generic_events(rec, job.id)], timeout=30)
    assert runner.get(job.id).message != "Paused"
    assert runner.get(job.id).state == JobState.RUNNING
    runner.resume(job.id)  # resuming a running job changes nothing
    runner.cancel(job.id)
    assert runner.wait_idle(30)
    assert runner.get(job.id).state == JobState.CANCELLED


def test_cancel_and_shutdown_reach_a_paused_job(project, make_runner, child_gens, tmp_path):
    runner = make_runner(project)
    counter = tmp_path / "n"
    first = runner.submit(JobSpec("test.child.looper", {"counter": str(counter)}))
    wait_for(counter.exists, timeout=30)
    runner.pause(first.id)
    wait_for(lambda: runner.get(first.id).message == "Paused", timeout=30)
    runner.cancel(first.id)
    assert runner.wait_idle(30)
    assert runner.get(first.id).state == JobState.CANCELLED
    counter.unlink()
    second = runner.submit(JobSpec("test.child.looper", {"counter": str(counter)}))
    wait_for(counter.exists, timeout=30)
    runner.pause(second.id)
    wait_for(lambda: runner.get(second.id).message == "Paused", timeout=30)
    runner.shutdown(wait=True, timeout=30)
    saved = {d["id"]: d for d in read_jobs_file(project)}
    assert saved[second.id]["state"] == "queued" and saved[second.id]["crashes"] == 0


def test_only_running_process_jobs_can_be_paused(project, make_runner, child_gens):
    runner = make_runner(project)
    thread_job = runner.submit(spec(steps=1, wait_cancel=True))
    wait_for(lambda: runner.get(thread_job.id).state == JobState.RUNNING)
    with pytest.raises(JobError, match="process of their own"):
        runner.pause(thread_job.id)
    with pytest.raises(JobError, match="process of their own"):
        runner.resume(thread_job.id)
    assert not runner.is_paused(thread_job.id)
    queued = runner.submit(proc_spec(steps=1))
    with pytest.raises(JobError, match="Only a running job"):
        runner.pause(queued.id)
    with pytest.raises(JobError, match="Unknown job"):
        runner.pause("jnope")
    runner.cancel(thread_job.id)
    assert runner.wait_idle(30)
    assert runner.get(queued.id).state == JobState.DONE
    with pytest.raises(JobError, match="this one is done"):
        runner.pause(queued.id)


def test_job_events_are_typed():
    from genstudio.core.jobs import EventType, JobEvent

    ev = JobEvent("j1", "progress", fraction=0.5)
    assert ev.type is EventType.PROGRESS and ev.type == "progress"  # still compares as text
    with pytest.raises(ValueError):
        JobEvent("j1", "progres")  # a typo fails where the event is made, not silently later
