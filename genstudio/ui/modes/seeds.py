"""Seeds as the mode panels show them (Qt-free): a dice roll and the seed field's text."""

from __future__ import annotations

import secrets

from genstudio.core.errors import InvalidParamsError

DICE_MAX = 2**31 - 1  # dice rolls stay short enough to read and type
MAX_SEED = 2**63 - 1


def random_seed() -> int:
    return secrets.randbelow(DICE_MAX + 1)


def parse_seed(text: str) -> int:
    """The seed field's text -> a seed; InvalidParamsError names the problem."""
    t = text.strip()
    if not t:
        raise InvalidParamsError("Enter a seed (a whole number), or press the dice for one.")
    if not t.isdigit():
        raise InvalidParamsError(f"The seed must be a whole number, not {t[:30]!r}.")
    v = int(t)
    if v > MAX_SEED:
        raise InvalidParamsError(f"The seed must be at most {MAX_SEED}.")
    return v
