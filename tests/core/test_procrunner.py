"""procrunner + childmain: a real child interpreter speaking JSON lines on stdin/stdout."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from genstudio.core import procrunner
from genstudio.core.errors import Cancelled, JobError, ModelPackError
from genstudio.core.procrunner import ProcessControl, run_in_process
from genstudio.core.settings import Settings, save_settings
from genstudio.generators.base import Output

T = "tests.helpers.child_gens:"
REPO = Path(__file__).resolve().parents[2]


def wait_for(pred, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        time.sleep(0.01)


def gone(pid: int) -> bool:
    """The process is gone (or a zombie nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status


class Run:
    """Calls run_in_process, recording every callback; in a thread with ``start()``."""

    def __init__(self, target: str, params: dict[str, Any] | None = None, **kw: Any) -> None:
        self.target = T + target
        self.params = params or {}
        self.kw = kw
        self.cancel = threading.Event()
        self.control = ProcessControl()
        self.progress: list[tuple[float, str, bytes | None]] = []
        self.outputs: list[Output] = []
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.result: dict | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.on_output_hook = None

    def _on_output(self, out: Output) -> str:
        if self.on_output_hook is not None:
            self.on_output_hook(out)
        with self.lock:
            self.outputs.append(out)
            return f"asset{len(self.outputs)}"

    def _on_event(self, name: str, data: dict) -> None:
        with self.lock:
            self.events.append((name, data))

    def __call__(self) -> dict:
        return run_in_process(
            self.target,
            self.params,
            on_progress=lambda f, m, p: self.progress.append((f, m, p)),
            on_output=self._on_output,
            cancel_event=self.cancel,
            on_event=self._on_event,
            control=self.control,
            **self.kw,
        )

    def start(self) -> Run:
        def body() -> None:
            try:
                self.result = self()
            except BaseException as e:
                self.error = e

        self.thread = threading.Thread(target=body, name="test-run", daemon=True)
        self.thread.start()
        return self

    def join(self, timeout: float = 30.0) -> None:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run_in_process did not return"

    def names(self) -> list[str]:
        with self.lock:
            return [n for n, _ in self.events]


def test_outputs_progress_and_info(tmp_path):
    run = Run("TwoOutputs", {"count": 2, "seed": 5})
    seen_before_next: list[int] = []
    # on_output runs before the child goes on: the child's next progress comes after it.
    run.on_output_hook = lambda out: seen_before_next.append(len(run.progress))
    info = run()
    assert info["ids"] == ["asset1", "asset2"]  # emit returned the parent's ids
    assert info["pid"] != os.getpid()
    assert seen_before_next == [1, 2]
    assert [(f, m) for f, m, _ in run.progress] == [(0.5, "output 1"), (1.0, "output 2")]
    assert all(p and p.startswith(b"\x89PNG") for _, _, p in run.progress)
    a, b = run.outputs
    assert isinstance(a, Output)
    assert a.kind == "sprite" and a.ext == "png" and a.data.startswith(b"\x89PNG")
    assert a.seed == 5 and b.seed == 6 and a.model_id == "m" and a.model_sha256 == "ab" * 32
    assert a.params["seed"] == 5 and a.name_hint == "n0" and a.parent is None
    assert a.extra == {"i": 0, "pid": info["pid"], "text": "snowman \u2603"}


def test_stdout_junk_does_not_break_the_protocol(caplog):
    caplog.set_level(logging.INFO)
    run = Run("Junk")
    info = run()
    assert info == {"real": True}
    assert len(run.outputs) == 1
    child_lines = [r.getMessage() for r in caplog.records if r.name == "genstudio.child"]
    text = "\n".join(child_lines)
    assert "junk from print {not json" in text
    assert '"fake": true' in text and '"message":"fake"' in text
    assert "raw bytes on fd 1" in text
    assert "from a grandchild on stdout" in text
    warnings = [r.getMessage() for r in caplog.records if r.name == "genstudio.core.procrunner"]
    assert any("not a protocol line" in w and "this is not json" in w for w in warnings)
    assert any("without a type" in w for w in warnings)
    assert any("from-the-future" in w for w in warnings)


def test_events_reach_the_parent():
    run = Run("Events", {"count": 3})
    assert run() == {"events": 5}
    assert run.names() == ["loss", "loss", "loss", "checkpoint", "nan"]
    assert run.events[0][1] == {"step": 0, "loss": 1.0, "lr": 1e-3}
    assert run.events[3][1] == {"step": 3, "path": "ckpt/last.safetensors"}
    loss = run.events[4][1]["loss"]
    assert loss != loss  # NaN travels


def test_a_line_over_the_limit_is_an_error(monkeypatch):
    monkeypatch.setattr(procrunner, "MAX_LINE", 10_000)
    with pytest.raises(JobError, match="over 10000 bytes"):
        Run("Events", {"count": 1, "big_event": 20_000})()


def test_cancel_stops_a_cooperative_child(tmp_path):
    counter = tmp_path / "n"
    run = Run("Looper", {"counter": str(counter)}).start()
    wait_for(counter.exists, what="the child ticks")
    t0 = time.monotonic()
    run.cancel.set()
    run.join()
    assert isinstance(run.error, Cancelled)
    assert time.monotonic() - t0 < 10


def test_a_child_that_ignores_cancel_is_killed_with_its_group(tmp_path):
    pid_file = tmp_path / "pid"
    run = Run(
        "Looper", {"pid_file": str(pid_file), "ignore_cancel": True, "grandchild": True}, grace=0.3
    ).start()
    wait_for(lambda: "tick" in run.names(), what="the child ticks")
    pid, grandchild = (int(x) for x in pid_file.read_text().split())
    run.cancel.set()
    run.join()
    assert isinstance(run.error, Cancelled)
    assert gone(pid)
    wait_for(lambda: gone(grandchild), timeout=10, what="the grandchild is killed")


def test_pause_really_stops_the_child_until_resume(tmp_path):
    counter = tmp_path / "n"
    run = Run("Looper", {"counter": str(counter)}).start()
    wait_for(lambda: run.names().count("tick") >= 2, what="ticks")
    run.control.pause()
    assert run.control.paused
    wait_for(lambda: "paused" in run.names(), what="the paused event")
    at_pause = int(counter.read_text())
    # Whatever the machine's speed: while paused, nothing at all comes from the child.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert int(counter.read_text()) == at_pause
        time.sleep(0.02)
    names = run.names()
    assert names[-1] == "paused" and names.count("paused") == 1
    n_before = len(names)
    run.control.pause()  # a second pause changes nothing
    run.control.resume()
    assert not run.control.paused
    wait_for(lambda: run.names().count("tick") > names.count("tick") + 2, what="ticks again")
    after = run.names()[n_before:]
    assert after[0] == "resumed" and "paused" not in after
    assert int(counter.read_text()) > at_pause
    run.cancel.set()
    run.join()
    assert isinstance(run.error, Cancelled)


def test_cancel_while_paused(tmp_path):
    run = Run("Looper").start()
    wait_for(lambda: "tick" in run.names(), what="ticks")
    run.control.pause()
    wait_for(lambda: "paused" in run.names(), what="the paused event")
    run.cancel.set()
    run.join()
    assert isinstance(run.error, Cancelled)
    assert "resumed" not in run.names()


def test_a_pause_asked_before_the_child_runs_is_sent_when_it_starts(tmp_path):
    run = Run("Looper")
    run.control.pause()
    run.start()
    wait_for(lambda: "paused" in run.names(), what="the paused event")
    n = len(run.names())
    run.cancel.set()
    run.join()
    assert isinstance(run.error, Cancelled)
    assert run.names()[n - 1 :] == ["paused"]  # nothing after it: it never went on


def test_generator_errors_are_rebuilt_with_their_class_and_hint():
    run = Run("UserError")
    with pytest.raises(ModelPackError) as info:
        run()
    assert info.value.message == "The model pack is broken."
    assert info.value.hint == "Install it again."
    assert len(run.outputs) == 1


def test_unexpected_errors_become_job_errors_with_the_traceback_logged(caplog):
    with pytest.raises(JobError) as info:
        Run("Bug")()
    assert type(info.value) is JobError
    assert info.value.message.startswith("Unexpected error: ValueError: a bug in the generator")
    assert "Traceback" in caplog.text and "a bug in the generator" in caplog.text


def test_an_output_that_cannot_travel_is_an_error_in_the_child():
    with pytest.raises(JobError, match="cannot be sent to the studio"):
        Run("BadOutput")()


def test_a_failing_on_output_reaches_the_caller():
    run = Run("TwoOutputs")

    def fail(out):
        raise ModelPackError("disk full")

    run.on_output_hook = fail
    with pytest.raises(ModelPackError, match="disk full"):
        run()


def test_a_child_killed_by_a_signal_names_it():
    run = Run("SelfKill")
    with pytest.raises(JobError, match="killed by SIGKILL"):
        run()
    assert len(run.outputs) == 1


def test_an_interpreter_that_does_not_exist(tmp_path):
    missing = str(tmp_path / "no" / "python")
    with pytest.raises(JobError) as info:
        Run("TwoOutputs", python=missing)()
    assert "Could not start the worker process" in info.value.message
    assert missing in info.value.message
    assert "training_python" in (info.value.hint or "")


def test_an_interpreter_that_is_not_python(tmp_path):
    with pytest.raises(JobError, match="stopped before it could run the generator"):
        Run("TwoOutputs", python="/bin/false")()


def test_the_interpreter_comes_from_env_then_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("GENSTUDIO_TRAIN_PYTHON", raising=False)
    save_settings(Settings(training_python=str(tmp_path / "from-settings")))
    with pytest.raises(JobError, match="from-settings"):
        Run("TwoOutputs")()
    monkeypatch.setenv("GENSTUDIO_TRAIN_PYTHON", str(tmp_path / "from-env"))
    with pytest.raises(JobError, match="from-env"):
        Run("TwoOutputs")()
    # the keyword wins over both
    assert Run("TwoOutputs", python=sys.executable)()["ids"] == ["asset1", "asset2"]


def test_another_interpreter_does_not_get_the_studios_site_packages(tmp_path):
    wrapper = tmp_path / "py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    entries = procrunner._path_entries(str(wrapper))
    assert str(REPO) in entries
    assert not any("site-packages" in e for e in entries)
    assert any("site-packages" in e for e in procrunner._path_entries(sys.executable))
    assert Run("TwoOutputs", python=str(wrapper))()["ids"] == ["asset1", "asset2"]


# ------------------------------------------------------------ the child on its own


def start_child(*, ignore_cancel: bool, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A child started by hand, so that the test plays the parent (and can go away)."""
    entries = procrunner._path_entries(sys.executable)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "genstudio.core.childmain"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=procrunner._child_env(entries),
    )
    counter = tmp_path / "n"
    start = {
        "type": "start",
        "protocol": 1,
        "target": T + "Looper",
        "params": {"counter": str(counter), "ignore_cancel": ignore_cancel},
        "sys_path": entries,
        "cwd": os.getcwd(),
    }
    proc.stdin.write(procrunner.encode_line(start) + b"garbage from the parent\n")
    proc.stdin.flush()
    return proc, counter


def test_the_child_cancels_when_its_stdin_ends(tmp_path):
    proc, counter = start_child(ignore_cancel=False, tmp_path=tmp_path)
    try:
        wait_for(counter.exists, what="the child ticks")
        proc.stdin.close()  # the parent has gone
        assert proc.wait(30) == 0
        lines = [json.loads(x) for x in proc.stdout.read().splitlines()]
        assert lines[-1] == {"type": "cancelled"}
        assert {m["type"] for m in lines} == {"event", "cancelled"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_an_orphan_that_ignores_cancel_exits_by_itself(tmp_path):
    proc, counter = start_child(ignore_cancel=True, tmp_path=tmp_path)
    try:
        wait_for(counter.exists, what="the child ticks")
        t0 = time.monotonic()
        proc.stdin.close()
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        assert proc.wait(60) == 70
        assert time.monotonic() - t0 >= 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_protocol_mismatch_is_an_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-u", "-m", "genstudio.core.childmain"],
        input=procrunner.encode_line({"type": "start", "protocol": 99}),
        capture_output=True,
        env=procrunner._child_env(procrunner._path_entries(sys.executable)),
        timeout=60,
    )
    assert proc.returncode == 0
    (msg,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert msg["type"] == "error" and "protocol 99" in msg["message"]


def test_leftover_children_are_killed_at_exit(tmp_path):
    pid_file = tmp_path / "pid"
    run = Run("Looper", {"pid_file": str(pid_file), "ignore_cancel": True}, grace=60).start()
    wait_for(pid_file.exists, what="the child runs")
    pid = int(pid_file.read_text().split()[0])
    procrunner._kill_live()  # what the atexit hook does
    run.join()
    assert isinstance(run.error, JobError)  # it died without a final message
    assert gone(pid)
    assert signal.SIGTERM.name in str(run.error) or "SIGKILL" in str(run.error)
