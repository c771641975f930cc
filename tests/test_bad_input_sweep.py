"""A part of the bad-input sweep (tests/campaigns/bad_input_sweep.py) through the real CLI in
subprocesses: no traceback, no hang, a non-zero exit and a message that says what is wrong and
what to do. The whole sweep (110+ cases, mounts included) is run by the campaign script."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.campaigns import bad_input_sweep as sweep

PICKED = [
    "sprite seed 2^70",
    "sprite prompt invalid utf-8",
    "palette /dev/zero",
    "palette FIFO named .png",
    "palette EPS named .png",
    "palette bomb .png",
    "out 300-char name",
    "out under a file",
    "project new 300-char name",
    "project new invalid utf-8 name",
    "gallery list limit 2^70",
    "gallery list corrupt project.json",
    "music continue FIFO",
    "music continue huge deltas",
    "music soundfont random bytes",
    "models import FIFO",
]


@pytest.fixture(scope="module")
def setting():
    with tempfile.TemporaryDirectory(prefix="gs-sweep-") as tmp:
        d = Path(tmp)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUTF8="1")
        env["GENSTUDIO_DATA_DIR"] = str(d / "data")
        env["GENSTUDIO_CONFIG_DIR"] = str(d / "config")
        files = sweep.build_files(d)
        by_name = {c.name: c for c in sweep.cases(d, files)}
        yield by_name, env


@pytest.mark.parametrize("name", PICKED)
def test_bad_input_case(setting, name):
    by_name, env = setting
    r = sweep.run_case(by_name[name], env)
    assert r.ok, f"{name}: {r.why}\n{r.message}"
