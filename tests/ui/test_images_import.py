"""Importing Stable Diffusion in the studio (issue 16): drop a model on the Images mode, it is
converted in the training child process (a real ``models.import_sd`` job in the real queue),
selected when ready, generates, and its pictures export with their settings and the model's
hash. Real widgets, real JobRunner, real child process; tiny random-weight SD (tiny_sd)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from tests.ui.test_images_mode import drop_on, messages

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

WAIT_MS = 240_000  # the child process imports torch and diffusers first


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from genstudio.ml.images.tiny_sd import build_tiny_sd, save_single_file

    root = tmp_path_factory.mktemp("ui_sd")
    t = build_tiny_sd(root / "sd1", kind="sd1")
    return t, save_single_file(t, root / "my-model.safetensors")


def _wait_import(qtbot, panel, got):
    job_id = next(iter(panel._import_jobs))
    job = panel.ctx.jobs.get(job_id)
    assert job.spec.generator == "models.import_sd"
    with qtbot.waitSignal(panel.import_finished, timeout=WAIT_MS) as sig:
        pass
    return job_id, sig.args[0]


def test_drop_a_model_generate_and_export(qtbot, window, tiny, tmp_path):
    t, single = tiny
    panel = window.set_mode("images")
    got = messages(panel.ctx)
    models = panel.ctx.project.models_dir

    # a single file whose vocabulary is not CLIP's: the job fails and says what to do
    drop_on(panel, [single])
    assert "Converting my-model.safetensors" in got[-1][0]
    job_id, target = _wait_import(qtbot, panel, got)
    assert target == ""
    assert panel.ctx.jobs.get(job_id).state.value == "failed"
    assert got[-1][1] == "error" and "tokenizer" in got[-1][0]
    assert not (models / "my-model").exists()
    assert not [p for p in models.iterdir() if p.name.startswith(".")] if models.exists() else True

    # a pickle is refused at once, without a job
    jobs_before = len(panel.ctx.jobs.jobs())
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(b"\x80\x04K\x01.")
    drop_on(panel, [ckpt])
    assert got[-1][1] == "error" and "pickle" in got[-1][0].lower()
    assert len(panel.ctx.jobs.jobs()) == jobs_before

    # a diffusers folder (with its own tokenizer): converted, selected
    drop_on(panel, [t.diffusers_dir])
    job_id, target = _wait_import(qtbot, panel, got)
    job = panel.ctx.jobs.get(job_id)
    assert job.state.value == "done", job.error
    assert job.message.startswith("Done: model diffusers imported (Stable Diffusion 1.x")
    assert Path(target) == models / "diffusers"
    assert (Path(target) / "unet" / "model.onnx").is_file()
    assert panel.model.currentData() == target
    assert "Imported the model diffusers" in got[-1][0]

    # a LoRA beside the model: the menu lists it and adds its tag to the prompt
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(3)
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    (models / "loras").mkdir()
    save_file(
        {
            f"{key}.lora_down.weight": torch.randn(2, 768, generator=g) * 0.2,
            f"{key}.lora_up.weight": torch.randn(32, 2, generator=g) * 0.2,
        },
        str(models / "loras" / "inkStyle.safetensors"),
    )
    panel.prompt.setPlainText("a red castle")
    assert panel.lora_button.isVisible()
    panel.lora_menu.aboutToShow.emit()
    [act] = [a for a in panel.lora_menu.actions() if a.text() == "inkStyle"]
    act.trigger()
    assert panel.prompt.toPlainText() == "a red castle <lora:inkStyle:0.8>"

    # generate with it and export the picture with its settings
    panel.steps.setValue(3)
    panel.count.setValue(1)
    panel.seed.setText("5")
    assert panel.generate()
    qtbot.waitUntil(lambda: not panel.busy() and bool(panel.result_ids()), timeout=WAIT_MS)
    [asset] = panel.result_ids()
    rec = panel.result(asset).record
    assert rec.params["model"] == target
    assert rec.params["prompt"] == "a red castle <lora:inkStyle:0.8>"
    dlg = panel.open_export_dialog()
    out = tmp_path / "out"
    dlg.folder.setText(str(out))
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: out.exists() and any(out.iterdir()), timeout=5_000)
    [png] = list(out.iterdir())
    assert png.name == "a-red-castle_seed5.png"  # the LoRA tag is not part of the name
    from sd_parsers import ParserManager

    info = ParserManager().parse(str(png))
    assert info is not None and info.full_prompt == "a red castle <lora:inkStyle:0.8>"
    assert 'Lora hashes: "inkStyle: ' in info.raw_parameters["parameters"]
    sha = json.loads((Path(target) / "genstudio-import.json").read_text())["files"][
        "unet/model.onnx"
    ]["sha256"]
    (sampler,) = info.samplers
    assert sampler.model.name == "diffusers" and sampler.model.hash == sha[:10]
