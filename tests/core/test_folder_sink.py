"""The command line's runs go through the one JobRunner into an output folder (FolderSink):
files named by seed, both outputs kept when names clash, the project gets the same asset ids,
no jobs.json, and a failure or Ctrl-C is raised to the caller with the job recorded."""

from __future__ import annotations

import pytest

from genstudio import generators
from genstudio.core.errors import GenStudioError
from genstudio.core.folder import FolderSink
from genstudio.core.gallery import Query
from genstudio.core.jobs import JOBS_FILE, EventType, JobRunner, JobSpec, JobState
from genstudio.core.project import Project
from tests.helpers.gens import SlowGen


@pytest.fixture(autouse=True)
def _generators():
    generators.register("test.slow", SlowGen)
    yield
    generators.unregister("test.slow")


def test_outputs_land_in_the_folder_and_the_project_under_one_id(tmp_path):
    project = Project.create(tmp_path / "proj", name="sink")
    sink = FolderSink(tmp_path / "out", project)
    (tmp_path / "out").mkdir()
    runner = JobRunner(sink, sync=True, raise_errors=True)
    fractions: list[float] = []
    runner.subscribe(lambda e: fractions.append(e.fraction) if e.type == EventType.PROGRESS else None)
    job = runner.submit(JobSpec("test.slow", {"steps": 4, "emit_every": 2, "seed": 7}))
    runner.shutdown()
    assert job.state == JobState.DONE and fractions == [0.25, 0.5, 0.75, 1.0]
    names = [w.path.name for w in sink.written]
    assert names == ["test_7.png", "test_7_2.png"]  # same seed twice: the second is not lost
    assert all(w.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for w in sink.written)
    assert [w.extra["step"] for w in sink.written] == [1, 3]
    ids = {r.id for r in project.gallery.query(Query(limit=100))}
    assert ids == {w.id for w in sink.written} == set(job.asset_ids)
    assert not (tmp_path / "out" / JOBS_FILE).exists()
    assert not (tmp_path / "proj" / JOBS_FILE).exists()
    project.close()


def test_a_failure_is_raised_with_its_hint_after_the_job_is_recorded(tmp_path):
    sink = FolderSink(tmp_path)
    runner = JobRunner(sink, sync=True, raise_errors=True)
    with pytest.raises(GenStudioError, match="tiny generator failed") as caught:
        runner.submit(JobSpec("test.slow", {"steps": 3, "emit_every": 1, "fail_at": 1}))
    assert caught.value.hint == "Change its params."
    (job,) = runner.jobs()
    assert job.state == JobState.FAILED and len(job.asset_ids) == 1
    assert [w.path.name for w in sink.written] == ["test_0.png"]  # what was made is kept
    runner.shutdown()


def test_without_raise_errors_a_failure_stays_a_value(tmp_path):
    runner = JobRunner(FolderSink(tmp_path), sync=True)
    job = runner.submit(JobSpec("test.slow", {"steps": 2, "fail_at": 0, "fail_kind": "bug"}))
    assert job.state == JobState.FAILED and "RuntimeError: boom" in (job.error or "")
    runner.shutdown()
    with pytest.raises(ValueError, match="sync"):
        JobRunner(FolderSink(tmp_path), raise_errors=True)


def test_ctrl_c_during_a_sync_job_reaches_the_caller(tmp_path, monkeypatch):
    def interrupt(self, params, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(SlowGen, "run", interrupt)
    runner = JobRunner(FolderSink(tmp_path), sync=True)
    with pytest.raises(KeyboardInterrupt):
        runner.submit(JobSpec("test.slow", {"steps": 1}))
    assert runner.jobs()[0].state == JobState.CANCELLED
    runner.shutdown()
