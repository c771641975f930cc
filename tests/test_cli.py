"""The CLI drives the same services; real subprocesses where start-up behaviour matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from genstudio import cli

ROOT = Path(__file__).resolve().parents[1]


def test_help_and_version(capsys):
    parser = cli.build_parser()
    assert "generate" in parser.format_help()
    res = subprocess.run(
        [sys.executable, "-m", "genstudio", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert res.returncode == 0 and "genstudio" in res.stdout


def test_project_new_info_and_gallery_commands(tmp_path, capsys):
    root = tmp_path / "P"
    assert cli.main(["project", "new", str(root), "--name", "Demo"]) == 0
    assert (root / "project.json").exists()
    capsys.readouterr()
    assert cli.main(["project", "info", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "Demo" and info["assets"] == 0 and info["read_only"] is False
    assert cli.main(["gallery", "list", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["gallery", "rebuild", str(root)]) == 0


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "project.json").write_text("{ not json")
    code = cli.main(["gallery", "list", str(tmp_path / "does-not-exist")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    # a damaged project.json: the project opens read-only and says why, nothing is rewritten
    code = cli.main(["project", "info", str(bad), "--json"])
    cap = capsys.readouterr()
    assert code == 0 and "Traceback" not in cap.err
    info = json.loads(cap.out)
    assert info["read_only"] is True and "not valid JSON" in info["read_only_reason"]
    assert (bad / "project.json").read_text() == "{ not json"


def test_attr_parsing_rejects_garbage():
    import pytest

    from genstudio.core.errors import GenStudioError
    from genstudio.generators import fields
    from genstudio.generators.sprites.generator import SpriteParams

    parser = cli.build_parser(["generate"])
    argv = ["generate", "sprite", "--out", "x", "--attr", "hair_color=red", "--attr", " body = stocky "]
    args = parser.parse_args(argv)
    assert fields.from_args(args, SpriteParams)["attrs"] == {
        "hair_color": "red",
        "body": "stocky",
    }
    with pytest.raises(GenStudioError):
        fields.from_args(parser.parse_args([*argv, "--attr", "nonsense"]), SpriteParams)


def test_doctor_json_reports_real_providers():
    res = subprocess.run(
        [sys.executable, "-m", "genstudio", "doctor", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    cpu = [p for p in report["providers"] if p["provider"] == "CPUExecutionProvider"]
    assert cpu and cpu[0]["works"] is True
    assert report["paths"]["config"]["ok"] is True


def test_generate_sprite_cli_writes_sheets_exports_and_gallery(tmp_path, capsys):
    from PIL import Image

    proj = tmp_path / "P"
    assert cli.main(["project", "new", str(proj)]) == 0
    out = tmp_path / "out"
    code = cli.main(
        [
            "generate", "sprite", "--prompt", "red hair knight", "--attr", "item=staff",
            "--seed", "5", "--count", "2", "--size", "32", "--out", str(out),
            "--format", "aseprite", "--format", "godot", "--scale", "2", "--colors", "16",
            "--project", str(proj),
        ]
    )  # fmt: skip
    assert code == 0
    sheets = sorted(out.glob("sprite_*.png"))
    assert len([s for s in sheets if "_x" not in s.stem]) == 2
    meta = json.loads(next(out.glob("*.array.json")).read_text())
    assert meta["meta"]["app"] and len(meta["frames"]) == 24
    assert next(out.glob("*.tres")).read_text().startswith("[gd_resource")
    import numpy as np

    px = np.asarray(Image.open(sheets[0]).convert("RGBA")).reshape(-1, 4)
    assert len(np.unique(px[px[:, 3] == 255, :3], axis=0)) <= 16
    capsys.readouterr()
    assert cli.main(["gallery", "search", str(proj), "knight", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_generate_sprite_cli_rejects_absurd_values(tmp_path, capsys):
    code = cli.main(["generate", "sprite", "--count", "100000", "--out", str(tmp_path)])
    assert code == 2 and "count" in capsys.readouterr().err.lower()


def test_image_sampling_defaults_follow_the_model(tmp_path, monkeypatch):
    """--steps/--guidance/--scheduler not given = None = what the model is made for
    (images.generator.model_sampling, used by the generator); given values win.
    (validate_sd_folder is replaced here: its checks have their own tests in test_sd_onnx.py.)"""
    from types import SimpleNamespace

    from genstudio.core.errors import ModelPackError
    from genstudio.generators import fields
    from genstudio.generators.images.generator import ImageParams, model_sampling
    from genstudio.generators.images.sd import folder as sd_folder

    def sampling(*extra):
        argv = ["generate", "image", "--prompt", "x", "--out", str(tmp_path / "o"), *extra]
        args = cli.build_parser(argv).parse_args(argv)
        p = model_sampling(ImageParams.from_dict(fields.from_args(args, ImageParams)))
        return p.steps, p.guidance, p.scheduler

    assert sampling() == (20, 7.5, "dpmpp_2m")
    turbo = SimpleNamespace(recommended={"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"})
    monkeypatch.setattr(sd_folder, "validate_sd_folder", lambda p: turbo)
    assert sampling("--model", str(tmp_path)) == (1, 0.0, "euler")
    assert sampling("--model", str(tmp_path), "--steps", "4", "--scheduler", "lcm") == (4, 0.0, "lcm")

    def broken(p):
        raise ModelPackError("not an SD folder")

    monkeypatch.setattr(sd_folder, "validate_sd_folder", broken)  # the generator says why later
    assert sampling("--model", str(tmp_path)) == (20, 7.5, "dpmpp_2m")
