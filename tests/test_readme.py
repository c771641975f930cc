"""The README's first example block runs as written, in order, from a folder that is not the
checkout, with a fresh home (issue 17: the lines only worked from the repo folder, and the
gallery search found nothing because the line before it wrote outside the project)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def example_lines() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    block = re.search(r"work from any folder, in this order.*?```bash\n(.*?)```", text, re.S)
    assert block, "the README's example block moved; keep this test pointing at it"
    joined = block.group(1).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def test_the_readme_example_lines_run_in_order_from_any_folder(tmp_path):
    lines = example_lines()
    assert lines[0] == "genstudio doctor" and lines[-1] == "genstudio"
    home, elsewhere = tmp_path / "home", tmp_path / "somewhere"
    home.mkdir()
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENSTUDIO_")}
    env.update(
        HOME=str(home),  # a fresh user: default config, data and project folders
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        QT_QPA_PLATFORM="offscreen",
        GENSTUDIO_AUDIO_OUTPUT="null",
    )
    out: dict[str, str] = {}
    for line in lines:
        argv = [str(home) + a[1:] if a.startswith("~") else a for a in shlex.split(line)]
        if argv == ["genstudio"]:  # the studio window: opened offscreen and closed again
            argv = ["genstudio", "ui", "--smoke-test"]
        res = subprocess.run(argv, cwd=elsewhere, env=env, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
        assert res.returncode == 0, f"{line}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        assert "Traceback" not in res.stderr + res.stdout, line
        out[" ".join(argv[1:3])] = res.stdout
    # the search finds the 4 sheets the generate line stored in the project
    found = out["gallery search"]
    assert found.count("red hair knight with a sword") == 4 and "(4 assets)" in found
    assert len(list((home / "sprites").glob("*.png"))) >= 4
    assert not any(elsewhere.iterdir()), "a README line wrote into the current folder"
