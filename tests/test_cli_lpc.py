"""``genstudio generate sprite --style lpc``: sheets, credits beside them, what was not understood."""

from __future__ import annotations

import json

from genstudio import cli
from genstudio.generators.sprites import export


def test_lpc_style_writes_sheet_credits_and_says_what_it_ignored(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        ["generate", "sprite", "--style", "lpc", "--prompt", "elf archer riding a unicorn",
         "--size", "32", "--seed", "4", "--out", str(out), "--format", "aseprite"]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "not understood, so not in the result: riding, unicorn" in err
    assert err.count("not understood") == 1
    sheet = out / "lpc_4.png"
    img = export.read_sheet_png(sheet)
    assert img.shape == (25 * 32, 13 * 32, 4)
    credits = (out / "lpc_4.CREDITS.txt").read_text()
    assert "CC-BY-SA-3.0" in credits and "Layers used in this sheet" in credits
    tags = {t["name"] for t in json.loads((out / "lpc_4.json").read_text())["meta"]["frameTags"]}
    assert {"slash_left", "shoot_up", "spellcast_down", "hurt_down", "idle_right"} <= tags


def test_settings_of_the_other_style_are_refused(tmp_path, capsys):
    code = cli.main(["generate", "sprite", "--style", "lpc", "--shadow", "--out", str(tmp_path)])
    assert code == 2
    assert "--shadow is not a setting of the lpc style" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
