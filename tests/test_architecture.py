"""The layer rules, checked in fresh interpreters (import-linter checks the static graph)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "onnxruntime", "onnx", "PySide6", "safetensors", "sounddevice", "music21"]


def _loaded_after_import(module: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "genstudio.core.atomic",
        "genstudio.core.settings",
        "genstudio.core.project",
        "genstudio.core.gallery",
        "genstudio.core.jobs",
        "genstudio.generators",
        "genstudio.generators.base",
        "genstudio.cli",
    ],
)
def test_core_layers_import_nothing_heavy(module):
    assert _loaded_after_import(module) == set()


def test_runtime_does_not_import_onnxruntime_until_used():
    assert _loaded_after_import("genstudio.runtime.packs") == set()
    assert _loaded_after_import("genstudio.runtime.sessions") == set()


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed in this environment")
    res = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_no_pickle_loading_in_the_product():
    # pickletools (which only reads opcodes, never executes) is allowed: the pack checks use it
    # to recognise pickles by content
    import re

    needles = [
        r"\bpickle\.loads?\b",
        r"torch\.load\(",
        r"^\s*import pickle\b",
        r"^\s*from pickle\b",
    ]
    offenders = []
    for path in (ROOT / "genstudio").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in needles:
            if re.search(needle, text, re.M):
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []
    assert re.search(needles[2], "import pickle\n", re.M)  # the check can fail
    assert not re.search(needles[2], "import pickletools\n", re.M)


def test_one_job_runner():
    """Generators run only through core.jobs.JobRunner (in a thread) and core.childmain (its
    child processes); the CLI's ``--out`` runs use it too (core.folder.FolderSink). A benchmark
    may time a generator's ``run`` directly."""
    allowed = {"core/jobs.py", "core/childmain.py", "generators/base.py", "ml/sprites/bench.py"}
    makers = []
    for path in sorted((ROOT / "genstudio").rglob("*.py")):
        rel = path.relative_to(ROOT / "genstudio").as_posix()
        if rel not in allowed and "RunContext(" in path.read_text("utf-8"):
            makers.append(rel)
    assert makers == []
