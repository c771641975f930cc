"""The same training loop under torchrun with 2 CPU processes (gloo): DDP for users with
several GPUs, tested here without one. The ranks talk over loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from genstudio.generators.training import latest_checkpoint, read_run  # noqa: E402
from genstudio.runtime.packs import load_pack  # noqa: E402
from tests.helpers.training import params, tiny_base, write_pieces  # noqa: E402


def test_two_process_ddp_run_writes_one_pack_and_every_ranks_rng(tmp_path):
    data = tmp_path / "midi"
    write_pieces(data, 6)
    base = tiny_base(tmp_path / "base")
    job = params(data, tmp_path, base, steps=6, save_every=3, preview_every=100)
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), OMP_NUM_THREADS="1"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "genstudio.ml.music.finetune", "--params", str(job_file)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    names = [e["event"] for e in events]
    assert names.count("done") == 1  # rank 0 reports, rank 1 is quiet
    assert [e for e in events if e["event"] == "start"][0]["world_size"] == 2
    run = read_run(tmp_path / "models/.runs/music-test-style")
    assert run["status"] == "done" and "x 2 processes" in run["hardware"]
    _, meta = latest_checkpoint(tmp_path / "models/.runs/music-test-style")
    assert meta["world"] == 2 and len(meta["ranks"]) == 2
    assert meta["ranks"][0]["numpy"] != meta["ranks"][1]["numpy"]  # each rank its own data
    assert load_pack(tmp_path / "models/music-test-style").raw["training"]["steps"] == 6
