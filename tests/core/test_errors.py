"""The error tree: a cancel is not an error, so message handlers cannot swallow it."""

from __future__ import annotations

import pytest

from genstudio import cli
from genstudio.core.errors import Cancelled, GenStudioError


def test_cancelled_is_not_caught_as_an_error():
    def handler() -> str:
        try:
            raise Cancelled()
        except GenStudioError:  # what every "show the message" handler catches
            return "swallowed"

    with pytest.raises(Cancelled) as e:
        handler()
    assert not isinstance(e.value, GenStudioError)
    assert e.value.user_message() == "Cancelled by the user." and e.value.kind == "cancelled"


def test_a_cancel_reaching_the_cli_exits_130_without_a_traceback(monkeypatch, capsys):
    def cancelled(args):
        raise Cancelled("Generation cancelled.")

    monkeypatch.setattr(cli, "cmd_doctor", cancelled)  # bound when the parser is built
    assert cli.main(["doctor"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err and "unexpected" not in err.lower()
