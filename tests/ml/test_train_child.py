"""Training as a job: the real training child (a separate interpreter speaking JSON lines),
SIGKILLs with exact resume, pause/resume/cancel through the JobRunner, and the result used by
the Music generator as a model like any other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from genstudio.core.jobs import JobRunner, JobSpec, JobState  # noqa: E402
from genstudio.core.project import Project  # noqa: E402
from genstudio.runtime import registry  # noqa: E402
from tests.campaigns.train_kill import campaign  # noqa: E402
from tests.helpers.training import params, tiny_base, write_pieces  # noqa: E402


def wait_for(cond, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_sigkilled_training_child_resumes_exactly(tmp_path):
    rep = campaign(tmp_path, kills=2, steps=90, base=Path("tiny"), max_delay=0.05)
    assert rep["kills"] == 2
    assert rep["resumed_from_last_complete_checkpoint"] == 2, rep["log"]
    assert rep["bit_exact"], rep["max_abs_weight_difference"]


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "proj", name="train")
    registry.set_project_models(proj.models_dir)
    yield proj
    registry.set_project_models(None)
    proj.close()


def test_training_job_in_the_child_pauses_resumes_and_its_model_generates(project, tmp_path):
    data = tmp_path / "midi"
    write_pieces(data, 6)
    base = tiny_base(tmp_path / "base")
    job_params = params(data, project.root, base, steps=40, preview_every=10)
    job_params["out"] = str(project.models_dir / "music-test-style")
    job_params["run"] = str(project.models_dir / ".runs" / "music-test-style")
    events: list[tuple[str, dict]] = []
    runner = JobRunner(project)
    runner.subscribe(lambda e: e.type == "event" and events.append((e.name, e.data)))
    try:
        job = runner.submit(JobSpec("train.music", job_params, title="Train"))
        wait_for(lambda: any(n == "loss" for n, _ in events), timeout=180)
        runner.pause(job.id)
        wait_for(lambda: runner.get(job.id).message == "Paused", timeout=60)
        names = [n for n, _ in events]
        assert "checkpoint" in names  # a pause writes a checkpoint first
        steps_at_pause = max(d["step"] for n, d in events if n == "loss")
        time.sleep(0.5)  # not a timing assertion: no step may happen while paused
        assert max(d["step"] for n, d in events if n == "loss") == steps_at_pause
        runner.resume(job.id)
        assert runner.wait_idle(300)
        assert runner.get(job.id).state == JobState.DONE, runner.get(job.id).error
    finally:
        runner.shutdown(wait=True, timeout=30)
    names = [n for n, _ in events]
    for expected in ("hardware", "data", "start", "eval", "preview", "done"):
        assert expected in names, names
    previews = [d for n, d in events if n == "preview"]
    assert all(Path(f["path"]).is_file() for d in previews for f in d["files"])
    entry = {e.id: e for e in registry.list_packs("music")}["music-test-style"]
    assert entry.source == "project" and entry.styles[0]["title"] == "My style: Test style"

    from genstudio.generators.base import RunContext
    from genstudio.generators.music import midi
    from genstudio.generators.music.generator import MusicGenerator, MusicParams

    outs = []
    p = MusicParams.from_dict(
        {"style": entry.styles[0]["token"], "model": entry.id, "bars": 2, "audio": False,
         "key": "C major", "tempo": 120.0}
    )  # fmt: skip
    MusicGenerator().run(p, RunContext(emit=lambda o: outs.append(o) or "id"))
    assert outs[0].model_id == "music-test-style"
    score = midi.read_midi(outs[0].data)
    assert score.n_bars == 2 and score.notes
    assert {t.name for t in score.tracks} <= {"Lead", "Bass"}  # the material's track names


def test_cancelled_training_keeps_a_checkpoint_and_can_resume(project, tmp_path):
    data = tmp_path / "midi"
    write_pieces(data, 4)
    base = tiny_base(tmp_path / "base")
    job_params = params(data, project.root, base, steps=400, save_every=50)
    events: list[tuple[str, dict]] = []
    runner = JobRunner(project)
    runner.subscribe(lambda e: e.type == "event" and events.append((e.name, e.data)))
    try:
        job = runner.submit(JobSpec("train.music", job_params))
        wait_for(lambda: any(n == "loss" and d["step"] >= 5 for n, d in events), timeout=180)
        runner.cancel(job.id)
        assert runner.wait_idle(120)
        assert runner.get(job.id).state == JobState.CANCELLED
    finally:
        runner.shutdown(wait=True, timeout=30)
    from genstudio.generators.training import list_runs

    (run,) = list_runs(project.models_dir)
    assert run["status"] == "cancelled" and run["resumable"]
    assert run["checkpoint_step"] >= 5 and not Path(job_params["out"]).exists()


def test_cli_ctrl_c_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
    """`genstudio train music`: SIGINT (Ctrl-C) to the CLI -> the child checkpoints and stops;
    running the same command again resumes there and finishes."""
    import os
    import signal
    import subprocess
    import sys

    from genstudio.generators.training import latest_checkpoint, read_run

    data = tmp_path / "midi"
    write_pieces(data, 4)
    base = tiny_base(tmp_path / "base")
    out = tmp_path / "models" / "music-cc"
    cmd = [sys.executable, "-m", "genstudio", "train", "music", "--data", str(data),
           "--out", str(out), "--base", str(base), "--steps", "1500", "--batch", "2"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "held-out loss" in line and "step 0:" not in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=300)
    text = "".join(lines) + rest
    assert proc.returncode == 130, text[-2000:]
    assert "stopped; run the same command again to resume" in text
    run = tmp_path / "models" / ".runs" / "music-cc"
    assert read_run(run)["status"] == "cancelled"
    step = latest_checkpoint(run)[1]["step"]
    assert step > 0 and not out.exists()
    again = subprocess.run(cmd, env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"resumed from the checkpoint at step {step}" in again.stdout
    assert (out / "model.json").is_file()
