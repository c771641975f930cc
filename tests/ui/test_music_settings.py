"""The Music mode's settings: derived from ``MusicParams`` (one field spec), read back leniently
from a record, and bound to the panel's controls by the binder (no model pack needed here)."""

from __future__ import annotations

import dataclasses

import pytest

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.music import generator as gen
from genstudio.generators.music.generator import STYLE_TOP_P, MusicParams
from genstudio.ui.modes.music import state

#: every field away from its studio default (and valid), as a sidecar would hold it
RECORD = {
    "mode": "loop",
    "style": "chorale",
    "key": "F# minor",
    "tempo": 96.0,
    "time_signature": "3/4",
    "bars": 12,
    "temperature": 0.75,
    "top_k": 40,
    "top_p": 0.85,
    "seed": 99,
    "count": 5,
    "key_lock": False,
    "silent_bars": True,
    "strength": 0.25,
    "inputs": [],
    "audio": False,
    "soundfont": "/fonts/piano.sf2",
    "model": "",
}


def test_settings_have_every_field_with_the_studio_defaults():
    s = state.MusicSettings()
    assert [f.name for f in fields.specs(MusicParams)] == list(s.to_params())
    p = s.to_params()
    assert (p["count"], p["top_p"], p["style"], p["inputs"]) == (2, STYLE_TOP_P["folk"], "folk", [])
    MusicParams.from_dict(p)  # what the panel sends is valid as it is
    assert state.STYLES == ("folk", "chorale", "melody_accomp")
    assert state.MODES == gen.MODES and state.CLIPS_NEEDED == gen.INPUTS_NEEDED


def test_a_record_round_trips_and_bad_values_keep_their_defaults():
    s = state.MusicSettings.from_params(RECORD)
    assert s.to_params() == RECORD
    assert state.MusicSettings.from_params(RECORD, seed=7).seed == 7  # the record's seed wins

    bad = {
        "mode": "remix", "tempo": 1000, "bars": True, "temperature": "hot", "top_k": -1,
        "count": 0, "key": "H major", "time_signature": "5/7", "seed": "x", "strength": 2,
        "key_lock": 1, "soundfont": "", "inputs": "a.mid",
    }  # fmt: skip
    got = state.MusicSettings.from_params(bad)
    d = state.MusicSettings()
    for name in bad:
        want = "auto" if name == "soundfont" else getattr(d, name)
        assert getattr(got, name) == want, name
    with pytest.raises(InvalidParamsError, match="not a music piece"):
        state.MusicSettings.from_params(["mode"])


def test_reading_a_record_normalises_what_the_controls_show():
    s = state.MusicSettings.from_params({"key": "f# MINOR", "time_signature": " 6 / 8 "})
    assert (s.key, s.time_signature) == ("F# minor", "6/8")
    # a piece made with the style's own nucleus (top_p None, as the CLI does) shows that value
    s = state.MusicSettings.from_params({"style": "chorale", "top_p": None})
    assert s.top_p == STYLE_TOP_P["chorale"] and s.to_params()["top_p"] == STYLE_TOP_P["chorale"]
    # a fine-tuned style needs its pack; without one the default built-in style is used
    assert (state.MusicSettings.from_params({"style": "style4"}).style, "") == ("folk", "")
    s = state.MusicSettings.from_params({"style": "style4", "model": "music-mine"})
    assert (s.style, s.model) == ("style4", "music-mine")


def test_the_job_gets_as_many_clips_as_the_mode_needs_and_an_explicit_top_p():
    s = state.MusicSettings(mode="interpolate", inputs=["a.mid", "b.mid", "c.mid"], top_p=None)
    p = s.to_params()
    assert p["inputs"] == ["a.mid", "b.mid"]
    assert p["top_p"] == STYLE_TOP_P["folk"] and isinstance(p["top_p"], float)
    assert s.replace(mode="generate").to_params()["inputs"] == []
    assert s.inputs == ["a.mid", "b.mid", "c.mid"]  # the settings keep what the user gave


# --- the panel ---------------------------------------------------------------------------------


@pytest.fixture
def panel(window, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")
    return window.set_mode("music")


def test_the_panel_shows_and_reads_back_every_field(panel):
    from PySide6.QtWidgets import QWidget

    shown = [f.name for f in fields.specs(MusicParams) if f.spec.ui]
    assert set(shown) <= set(panel.binder.bound())
    assert panel.findChild(QWidget, "MoreSettings") is None  # every shown field has its place
    assert panel.top_k.specialValueText() == "off" and panel.count.suffix() == " pieces"
    assert panel.binder.label("tempo").toolTip() == "Quarter notes per minute"

    s = state.MusicSettings.from_params(RECORD)
    panel.apply_to_controls(s)
    assert panel.mode() == "loop" and panel.tempo.value() == 96.0
    # the carried fields (no control: silent bars, the SoundFont) come back too
    assert panel.current_settings().to_params() == RECORD


def test_a_field_no_control_places_appears_under_more_settings(window, monkeypatch):
    """A new ui=True field shows up without touching the panel (here: silent_bars shown)."""
    from PySide6.QtWidgets import QCheckBox, QWidget

    patched = tuple(
        dataclasses.replace(f, spec=dataclasses.replace(f.spec, ui=True))
        if f.name == "silent_bars" else f
        for f in fields.specs(MusicParams)
    )  # fmt: skip
    monkeypatch.setitem(fields._SPECS, MusicParams, patched)
    monkeypatch.setenv("GENSTUDIO_AUDIO_OUTPUT", "null")
    panel = window.set_mode("music")
    more = panel.findChild(QWidget, "MoreSettings")
    assert more is not None
    box = more.findChild(QCheckBox, "field_silent_bars")
    assert box is not None and box.text() == "Silent bars" and not box.isChecked()
    box.setChecked(True)
    assert panel.current_settings().to_params()["silent_bars"] is True
    panel.apply_to_controls(state.MusicSettings())
    assert not box.isChecked()
