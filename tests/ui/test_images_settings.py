"""The Images mode's settings: derived from ``ImageParams`` (one field spec), read back leniently
from a record, checked with the spec's ranges (the one seed range), and bound to the panel's
controls by the binder (no model pack and no torch needed here)."""

from __future__ import annotations

import pytest

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.images import metadata
from genstudio.generators.images.generator import BUILTIN, ImageParams, recommended_sampling
from genstudio.ui.modes import seeds
from genstudio.ui.modes.images import state


@pytest.fixture
def record(tmp_path):
    """Every field away from its studio default (and valid), as a sidecar would hold it."""
    sd = tmp_path / "tiny-sd"
    sd.mkdir()
    init = tmp_path / "init.png"
    init.write_bytes(b"")
    return {
        "prompt": "castle on a hill",
        "negative": "blurry",
        "model": str(sd),
        "steps": 9,
        "guidance": 3.5,
        "scheduler": "euler",
        "seed": 2**40,  # beyond the old 32-bit images range: the one seed range holds it
        "count": 1,
        "width": 640,
        "height": 384,
        "init": str(init),
        "strength": 0.5,
        "mask": str(tmp_path / "mask.png"),
        "pixel_art": True,
        "grid": 16,
        "colors": 8,
        "palette": str(tmp_path / "pal.gpl"),
        "outline": True,
        "upscale": 2,
    }


def test_settings_have_every_field_with_the_studio_defaults():
    s = state.ImagesSettings()
    p = s.to_params()
    assert list(p) == [f.name for f in fields.specs(ImageParams)]
    rec = recommended_sampling(BUILTIN)
    assert (p["steps"], p["guidance"], p["scheduler"]) == (
        rec["steps"], rec["guidance_scale"], rec["scheduler"],
    )  # fmt: skip
    assert (p["model"], p["count"], p["seed"], p["width"], p["upscale"]) == (BUILTIN, 4, 0, 512, 1)
    ImageParams.from_dict({**p, "prompt": "apple"})  # what the panel sends is valid as it is
    assert list(state.SCHEDULER_TITLES) == list(
        fields.field_info(ImageParams, "scheduler").spec.allowed() or ()
    )


def test_a_record_round_trips_and_the_given_seed_wins(record):
    s = state.ImagesSettings.from_params(record)
    assert s.to_params() == record
    assert state.ImagesSettings.from_params(record, seed=7).seed == 7
    assert state.ImagesSettings.from_params(record, seed=True).seed == record["seed"]


def test_invalid_sidecar_values_keep_the_defaults():
    bad = {
        "prompt": 3, "negative": None, "model": "", "steps": 0, "guidance": "high",
        "scheduler": "heun", "seed": -1, "count": 99, "width": 100, "height": 4096,
        "init": 5, "strength": 0.0, "mask": [], "pixel_art": 1, "grid": 4, "colors": True,
        "palette": None, "outline": "yes", "upscale": 3,
    }  # fmt: skip
    got = state.ImagesSettings.from_params(bad)
    d = state.ImagesSettings()
    assert set(bad) == {f.name for f in fields.specs(ImageParams)}
    for name in bad:
        assert getattr(got, name) == getattr(d, name), name
    assert got.count == 4  # the studio's batch, not ImageParams' one image
    assert state.ImagesSettings.from_params({}).to_params() == d.to_params()
    with pytest.raises(InvalidParamsError, match="not an image"):
        state.ImagesSettings.from_params(["prompt"])


def test_a_gone_model_folder_is_kept_so_reuse_can_say_so(tmp_path):
    gone = str(tmp_path / "gone-sd")
    s = state.ImagesSettings.from_params({"prompt": "apple", "model": gone})
    assert s.model == gone and s.is_sd
    with pytest.raises(InvalidParamsError, match="model folder"):
        s.check()


def test_none_sampling_is_what_the_model_is_made_for(monkeypatch, tmp_path):
    s = state.ImagesSettings.from_params({"steps": None, "guidance": None, "scheduler": None})
    rec = recommended_sampling(BUILTIN)
    assert (s.steps, s.guidance, s.scheduler) == (
        rec["steps"], rec["guidance_scale"], rec["scheduler"],
    )  # fmt: skip
    turbo = str(tmp_path)
    monkeypatch.setattr(
        state, "recommended_sampling",
        lambda model: {"steps": 1, "guidance_scale": 0.0, "scheduler": "euler"}
        if model == turbo else rec,
    )  # fmt: skip
    s = state.ImagesSettings.from_params({"model": turbo, "steps": None, "guidance": 2.0})
    assert (s.steps, s.guidance, s.scheduler) == (1, 2.0, "dpmpp_2m")  # only None is filled
    s = state.ImagesSettings(model=turbo, steps=None, scheduler=None).with_model_sampling()
    assert (s.steps, s.guidance, s.scheduler) == (1, 7.5, "euler")


def test_the_job_params_drop_what_is_not_used(record):
    s = state.ImagesSettings.from_params(record)
    s.prompt, s.negative = "  red apple \n", " text "
    s.init, s.pixel_art = "", False
    p = s.to_params()
    assert (p["prompt"], p["negative"], p["mask"], p["palette"]) == ("red apple", "text", "", "")
    assert s.mask == record["mask"] and s.palette == record["palette"]  # the settings keep them


def test_the_seed_range_is_the_one_seed_range():
    assert state.MAX_SEED == seeds.MAX_SEED == fields.MAX_SEED == 2**63 - 1
    top = state.ImagesSettings.from_params({"seed": fields.MAX_SEED})
    assert top.seed == fields.MAX_SEED
    assert state.ImagesSettings.from_params({"seed": fields.MAX_SEED + 1}).seed == 0
    ok = state.ImagesSettings(prompt="apple", seed=fields.MAX_SEED)
    ok.check()
    with pytest.raises(InvalidParamsError, match="Seed"):
        ok.replace(seed=fields.MAX_SEED + 1).check()
    assert state.parse_seed(str(fields.MAX_SEED)) == fields.MAX_SEED
    with pytest.raises(InvalidParamsError, match="at most"):
        state.parse_seed(str(fields.MAX_SEED + 1))

    s, took, notes = state.apply_metadata(
        state.ImagesSettings(seed=3), metadata.ImageSettings(seed=2**40)
    )
    assert s.seed == 2**40 and took == ["seed"] and not notes
    s, took, notes = state.apply_metadata(
        state.ImagesSettings(seed=3), metadata.ImageSettings(seed=fields.MAX_SEED + 1)
    )
    assert s.seed == 3 and not took and "outside" in notes[0]


def test_check_uses_the_spec():
    with pytest.raises(InvalidParamsError, match="Type a prompt"):
        state.ImagesSettings(prompt="  ").check()
    for name, value in (("steps", 151), ("guidance", 31.0), ("width", 100), ("upscale", 3)):
        with pytest.raises(InvalidParamsError):
            state.ImagesSettings(prompt="apple", **{name: value}).check()
    state.ImagesSettings(prompt="apple").check()


def test_other_tools_values_are_brought_into_the_spec_ranges():
    md = metadata.ImageSettings(prompt="p", steps=500, cfg_scale=50.0, width=1001, height=3000)
    s, took, notes = state.apply_metadata(state.ImagesSettings(), md)
    hi = fields.field_info(ImageParams, "steps").spec.hi
    assert (s.steps, s.guidance, s.width, s.height) == (hi, 30.0, 1000, 2048)
    assert "beyond" in notes[0] and took[:3] == ["prompt", "steps", "guidance"]
    assert state.snap8(10) == 64 and state.snap8(99999) == 2048


def test_model_recommendations_are_checked_against_the_spec(tmp_path):
    builtin = state.find_models(None, None)[0]
    rec = recommended_sampling(BUILTIN)
    assert builtin.recommended == (rec["steps"], rec["guidance_scale"], rec["scheduler"])
    assert state._recommended({"steps": 1, "guidance_scale": 0, "scheduler": "euler"}) == (
        1, 0.0, "euler",
    )  # fmt: skip
    for bad in (
        {"steps": 0, "guidance_scale": 7, "scheduler": "euler"},
        {"steps": True, "guidance_scale": 7, "scheduler": "euler"},
        {"steps": 4, "guidance_scale": 31, "scheduler": "euler"},
        {"steps": 4, "guidance_scale": 7, "scheduler": "heun"},
        {"steps": None, "guidance_scale": 7, "scheduler": "euler"},
        [4, 7, "euler"],
    ):
        assert state._recommended(bad) is None, bad


# --- the panel ---------------------------------------------------------------------------------


@pytest.fixture
def panel(window):
    p = window.set_mode("images")
    assert type(p).__name__ == "ImagesPanel"
    return p


def test_the_controls_take_their_ranges_and_choices_from_the_spec(panel):
    from PySide6.QtWidgets import QWidget

    shown = [f.name for f in fields.specs(ImageParams) if f.spec.ui]
    assert set(shown) <= set(panel.binder.bound())
    assert panel.findChild(QWidget, "MoreSettings") is None  # every shown field has its place

    def spec(name):
        return fields.field_info(ImageParams, name).spec

    for name, w in (("steps", panel.steps), ("count", panel.count), ("width", panel.width_spin),
                    ("height", panel.height_spin), ("grid", panel.grid),
                    ("colors", panel.colors)):  # fmt: skip
        assert (w.minimum(), w.maximum()) == (spec(name).lo, spec(name).hi), name
    assert (panel.guidance.minimum(), panel.guidance.maximum()) == (
        spec("guidance").lo,
        spec("guidance").hi,
    )
    assert panel.strength.minimum() == spec("strength").lo
    combos = (("scheduler", panel.scheduler), ("upscale", panel.upscale))
    for name, combo in combos:
        assert [combo.itemData(i) for i in range(combo.count())] == list(spec(name).allowed())
    assert (
        panel.scheduler.currentText() == "DPM++ 2M" and panel.upscale.itemText(0) == "\u00d71 (off)"
    )
    assert (
        panel.steps.toolTip() == spec("steps").help and panel.count.suffix() == spec("count").unit
    )
    assert panel.binder.label("guidance").text() == spec("guidance").label
    assert panel.seed.maxLength() == len(str(fields.MAX_SEED))
    assert panel.current_settings().count == 4


def test_the_panel_shows_and_reads_back_a_record(panel, record):
    record = {**record, "model": BUILTIN, "init": "", "mask": ""}  # the canvas holds the init
    panel.apply_to_controls(state.ImagesSettings.from_params(record))
    assert panel.steps.value() == 9 and panel.scheduler.currentData() == "euler"
    assert panel.seed.text() == str(2**40)
    assert panel.current_settings().to_params() == record
    panel.seed.setText(str(fields.MAX_SEED + 1))
    with pytest.raises(InvalidParamsError, match="at most"):
        panel.current_settings()
    panel.apply_to_controls(state.ImagesSettings())
    assert panel.current_settings().to_params() == state.ImagesSettings().to_params()
