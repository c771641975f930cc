"""Bad input through the CLI (issue 11, defects 6 and 11): one clear message, never a traceback.

Each case raised a raw exception before the fix: OSError / FileExistsError / NotADirectoryError
for ``--out``, OverflowError for ``--limit 2**70``, UnicodeEncodeError / TypeError for invalid
UTF-8 text, and any unexpected exception printed its traceback on the terminal.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from genstudio import cli

SPRITE = ["generate", "sprite", "--prompt", "knight", "--seed", "1"]


def _run(capsys, argv):
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


def test_out_with_a_300_character_name(tmp_path, capsys):
    code, _, err = _run(capsys, [*SPRITE, "--out", str(tmp_path / ("x" * 300))])
    assert code == 2 and "name that is too long" in err and "255" in err


def test_out_pointing_at_a_file_and_under_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, _, err = _run(capsys, [*SPRITE, "--out", str(f)])
    assert code == 2 and "is a file" in err and "folder" in err
    code, _, err = _run(capsys, [*SPRITE, "--out", str(f / "sub")])
    assert code == 2 and "inside a file" in err


def test_out_on_a_read_only_drive(tmp_path, capsys, monkeypatch):
    # Simulated: tests run as root, where a read-only mount needs privileges CI may lack.
    real = Path.mkdir

    def ro(self, *a, **kw):
        if self.name == "ro":
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", ro)
    code, _, err = _run(capsys, [*SPRITE, "--out", str(tmp_path / "ro")])
    assert code == 2 and "read-only drive" in err


def test_limit_far_too_large_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["project", "new", str(tmp_path / "P")]) == 0
    capsys.readouterr()
    code, _, err = _run(capsys, ["gallery", "list", str(tmp_path / "P"), "--limit", str(2**70)])
    assert code == 2 and "outside 1..1,000,000" in err
    code, _, err = _run(capsys, ["gallery", "search", str(tmp_path / "P"), "x", "--limit", "0"])
    assert code == 2 and "outside" in err


@pytest.mark.parametrize(
    "argv",
    [
        [*SPRITE[:3], "kn\udcffight"],
        ["generate", "image", "--prompt", "red \udcff apple"],
        ["generate", "music", "--key", "D\udcff major"],
    ],
    ids=["sprite", "image", "music"],
)
def test_invalid_utf8_text_is_refused(tmp_path, capsys, argv):
    code, _, err = _run(capsys, [*argv, "--out", str(tmp_path / "o")])
    assert code == 2 and "not valid UTF-8" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_invalid_utf8_params_are_refused_by_every_generator():
    from genstudio import generators
    from genstudio.core.errors import InvalidParamsError

    for name, data in [
        ("sprites.procedural", {"prompt": "a\udcff"}),
        ("images.diffusion", {"prompt": "a\udcff"}),
        ("music.gpt", {"key": "D major", "inputs": ["clip\udcff.mid"]}),
    ]:
        with pytest.raises(InvalidParamsError, match="not valid text"):
            generators.get(name).Params.from_dict(data)


def test_unexpected_exception_is_one_message_and_the_traceback_goes_to_the_log(
    tmp_path, capsys, monkeypatch
):
    from genstudio.core import logs

    log_path = tmp_path / "logs" / "genstudio.log"
    log_path.parent.mkdir()
    handler = logging.FileHandler(log_path, encoding="utf-8")
    root = logging.getLogger("genstudio")
    root.addHandler(handler)
    monkeypatch.setattr(logs, "log_file_path", lambda: log_path)

    def boom(args):
        raise RuntimeError("something internal broke")

    monkeypatch.setattr(cli, "cmd_doctor", boom)
    try:
        code, _, err = _run(capsys, ["doctor"])
    finally:
        root.removeHandler(handler)
        handler.close()
    assert code == 1
    assert err.startswith("error: GenStudio hit an unexpected problem (RuntimeError")
    assert str(log_path) in err
    text = log_path.read_text("utf-8")
    assert "Traceback" in text and "something internal broke" in text


def test_gallery_list_does_not_send_terminal_escapes(tmp_path, capsys):
    from genstudio.core.project import Project

    root = tmp_path / "P"
    proj = Project.create(root, name="P")
    evil = "knight \x1b]0;owned\x07\x1b[2J\x9b31m"
    proj.add_asset(
        kind="image",
        data=b"\x89PNG\r\n\x1a\n",
        ext="png",
        generator="test",
        params={"prompt": evil},
    )
    proj.close()
    code, out, _ = _run(capsys, ["gallery", "list", str(root)])
    assert code == 0 and "knight" in out
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
    assert "\\x1b" in out
    code, out, _ = _run(capsys, ["gallery", "list", str(root), "--json"])
    assert code == 0 and "\x1b" not in out and "\x9b" not in out
    import json

    assert json.loads(out)[0]["prompt"] == evil  # the JSON still round-trips exactly


def test_random_bytes_soundfont_says_it_falls_back(tmp_path, capsys):
    sf = tmp_path / "random.sf2"
    sf.write_bytes(bytes(range(256)) * 20)
    code, _, err = _run(
        capsys,
        ["generate", "music", "--bars", "1", "--wav", "--soundfont", str(sf)]
        + ["--out", str(tmp_path / "o")],
    )
    assert code == 0
    # a line of its own after the progress line (not only a log line inside it)
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert notes and "not a SoundFont" in notes[0] and "using the built-in synth" in notes[0]


def test_models_check_on_a_device_or_a_file_says_it_is_not_a_folder(tmp_path, capsys):
    f = tmp_path / "f.sf2"
    f.write_bytes(b"x")
    for path in ("/dev/zero", str(f)):
        code, _, err = _run(capsys, ["models", "check", path])
        assert code == 2 and "is not a folder" in err and "does not exist" not in err


def test_log_lines_on_the_terminal_escape_control_characters(capsys):
    from genstudio.core.logs import _StderrHandler

    h = _StderrHandler()
    rec = logging.LogRecord(
        "genstudio.x", logging.WARNING, __file__, 1, "%s", ("z\x1b]0;X\x07\u202e",), None
    )
    text = h.format(rec)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b" in text and "\\u202e" in text
