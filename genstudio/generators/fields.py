"""One description per parameter: a generator's params dataclass *is* its field spec.

Every field of a :class:`~genstudio.generators.base.GenParams` dataclass is declared once, with
:func:`param` (or :func:`seed_param`), and that one line says everything the rest of the product
needs about it::

    @dataclass(frozen=True)
    class SpriteParams(GenParams):
        count: int = param(1, "Sheets", lo=1, hi=64, help="Sheets in one batch.", ui_default=8)

- **validation and parsing** (:func:`check_fields`, run by ``GenParams.__post_init__``): the type
  from the annotation (``int`` refuses ``True`` and ``"3"``, ``float`` takes ``3`` as ``3.0``,
  ``X | None`` takes ``None`` = "the model's own"), the range, the choices, the length, a
  multiple, then the field's own ``check``; every refusal is an ``InvalidParamsError`` naming the
  field by its label, never a bare ``ValueError``;
- **the CLI's flags** (:func:`add_arguments` / :func:`from_args`): ``--name-with-dashes`` or the
  flag the field names, typed, ranged, with ``--x/--no-x`` for switches and repeatable flags for
  lists; a flag that is not given leaves the params default (or the model's own) in place;
- **the studio's controls** (``genstudio.ui.modes.binding`` reads :func:`specs`): each control takes
  its range, choices, tooltip and label from here, and a field no panel places by hand gets a
  control of its own under "More settings", so a new field shows up without touching the UI;
- **the sidecar and "reuse these settings"**: ``to_dict`` is the record; :func:`lenient` reads a
  record back field by field, keeping the default for what is missing or no longer valid.

Adding a parameter to a generator is therefore one ``param(...)`` line (and the code that uses it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genstudio.core.errors import InvalidParamsError

#: the one seed type: a whole number 0..MAX_SEED (numpy's PCG64 takes any of them)
MAX_SEED = 2**63 - 1
SPEC = "genstudio.spec"


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_MISSING: Any = _Unset()


@dataclass(frozen=True)
class Spec:
    """What one parameter is; see the module docstring for who reads which part."""

    label: str
    help: str = ""
    lo: float | None = None
    hi: float | None = None
    #: the allowed values (a tuple, or a function returning them, read when checked)
    choices: tuple[Any, ...] | Callable[[], Sequence[Any]] | None = None
    #: values allowed besides the range (``0`` = "no limit"), with what they mean
    special: tuple[Any, ...] = ()
    special_label: str = ""
    max_len: int | None = None
    multiple_of: int | None = None
    #: "" = ``--name-with-dashes``; None = no CLI flag (set by other flags or not at all)
    cli: str | None = ""
    cli_metavar: str | None = None
    #: what the CLI uses when the flag is not given, where it differs from the params default
    cli_default: Any = _MISSING
    group: str = ""
    #: shown as a control in the studio (False: carried in the record, not shown)
    ui: bool = True
    #: the studio's starting value, where it differs from the params default
    ui_default: Any = _MISSING
    #: a hint for the control: "seed", "path", "text" (multi-line), "color"
    kind: str = ""
    #: suffix shown after a number (" px", " bpm")
    unit: str = ""
    #: extra check of the value (raises InvalidParamsError); may return a normalised value
    check: Callable[[Any], Any] | None = None
    #: the value is a user-facing string that must not be empty
    required: bool = False
    #: "reuse these settings" takes it from the record (False: which batch this one varies)
    reuse: bool = True

    def allowed(self) -> tuple[Any, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def param(default: Any, label: str, **spec: Any) -> Any:
    """A dataclass field with its :class:`Spec` (mutable defaults become factories)."""
    meta = {SPEC: Spec(label=label, **spec)}
    if isinstance(default, dict | list | set):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def like(cls: type, name: str, default: Any = _MISSING, **changes: Any) -> Any:
    """The field ``name`` of ``cls`` again (its default and spec, with ``changes``): a params
    class that exposes another's setting declares it once, where it is defined."""
    src = next(f for f in dataclasses.fields(cls) if f.name == name)
    spec = dataclasses.replace(src.metadata[SPEC], **changes)
    value = src.default if default is _MISSING else default
    if value is dataclasses.MISSING and src.default_factory is not dataclasses.MISSING:
        value = src.default_factory()
    meta = {SPEC: spec}
    if isinstance(value, dict | list | set):
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=value, metadata=meta)


def seed_param(**spec: Any) -> Any:
    """The one seed field: 0..MAX_SEED; item ``i`` of a batch uses ``seed + i``."""
    spec.setdefault(
        "help", "Item i of a batch uses seed + i; the same seed and settings give the same result."
    )
    return param(0, "Seed", lo=0, hi=MAX_SEED, kind="seed", group="Batch", **spec)


@dataclass(frozen=True)
class FieldInfo:
    """A field of a params class: name, annotation (resolved), default, spec."""

    name: str
    type: Any
    default: Any
    spec: Spec

    @property
    def optional(self) -> bool:
        return _is_optional(self.type)

    @property
    def base(self) -> Any:
        """The annotation without ``| None``."""
        return _strip_none(self.type)

    @property
    def flag(self) -> str | None:
        if self.spec.cli is None:
            return None
        return self.spec.cli or "--" + self.name.replace("_", "-")

    def ui_default(self) -> Any:
        return self.default if self.spec.ui_default is _MISSING else self.spec.ui_default


_SPECS: dict[type, tuple[FieldInfo, ...]] = {}


def specs(cls: type) -> tuple[FieldInfo, ...]:
    """The fields of params class ``cls`` in declaration order (cached)."""
    got = _SPECS.get(cls)
    if got is None:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get(SPEC) or Spec(label=f.name.replace("_", " ").capitalize())
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            out.append(FieldInfo(f.name, hints.get(f.name, Any), default, spec))
        got = _SPECS[cls] = tuple(out)
    return got


def field_info(cls: type, name: str) -> FieldInfo:
    for f in specs(cls):
        if f.name == name:
            return f
    raise KeyError(name)


def _is_optional(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in typing.get_args(t)


def _strip_none(t: Any) -> Any:
    if _is_optional(t):
        rest = [a for a in typing.get_args(t) if a is not type(None)]
        return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
    return t


# --- checking ---------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int) and abs(v) >= 10_000:
        return f"{v:,}"
    return str(v)


def _shown(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _refuse(f: FieldInfo, what: str, value: Any) -> InvalidParamsError:
    hint = f.spec.help or None
    return InvalidParamsError(f"{f.spec.label} must be {what}, not {_shown(value)}.", hint=hint)


def _range_words(f: FieldInfo, whole: bool) -> str:
    s = f.spec
    noun = "a whole number" if whole else "a number"
    if s.lo is not None and s.hi is not None:
        words = f"{noun} from {_fmt(s.lo)} to {_fmt(s.hi)}"
    elif s.lo is not None:
        words = f"{noun} of at least {_fmt(s.lo)}"
    elif s.hi is not None:
        words = f"{noun} of at most {_fmt(s.hi)}"
    else:
        words = noun
    if s.special:
        extra = " or ".join(_fmt(v) for v in s.special)
        words = f"{extra}{f' ({s.special_label})' if s.special_label else ''} or {words}"
    if f.optional:
        words += " (or empty: the model's own)"
    return words


def coerce(f: FieldInfo, value: Any) -> Any:
    """``value`` checked against field ``f``: the value to store, or InvalidParamsError."""
    s = f.spec
    if value is None:
        if f.optional:
            return None
        raise _refuse(f, "given", value)
    t = f.base
    origin = typing.get_origin(t)
    if t is bool:
        if not isinstance(value, bool):
            raise _refuse(f, "true or false", value)
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(f, _range_words(f, True), value)
        value = _in_range(f, value, True)
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(f, _range_words(f, False), value)
        value = float(value)
        if not math.isfinite(value):
            raise _refuse(f, _range_words(f, False), value)
        value = _in_range(f, value, False)
    elif t is str:
        if not isinstance(value, str):
            raise _refuse(f, "text", value)
        if s.max_len is not None and len(value) > s.max_len:
            raise InvalidParamsError(
                f"The {s.label.lower()} is {len(value):,} characters long; the limit is "
                f"{s.max_len:,}.",
                hint=s.help or None,
            )
        if s.required and not value.strip():
            raise InvalidParamsError(f"Type a {s.label.lower()}: it is empty.", hint=s.help or None)
    elif origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise _refuse(f, "a list", value)
        if not all(isinstance(v, str) for v in value):
            raise _refuse(f, "a list of text", value)
        value = tuple(value) if origin is tuple else list(value)
    elif origin is dict:
        if isinstance(value, list | tuple):
            try:
                value = {str(k): v for k, v in value}
            except (TypeError, ValueError):
                raise _refuse(f, "a mapping of name -> value", value) from None
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise _refuse(f, "a mapping of name -> value", value)
        value = dict(value)
    allowed = s.allowed()
    if allowed is not None and value not in allowed and value not in s.special:
        shown = ", ".join(_fmt(v) if v != "" else '"" (none)' for v in allowed)
        raise InvalidParamsError(
            f"{s.label} must be one of {shown}, not {_shown(value)}.", hint=s.help or None
        )
    if s.check is not None:
        got = s.check(value)
        if got is not None:
            value = got
    return value


def _in_range(f: FieldInfo, value: float, whole: bool) -> Any:
    s = f.spec
    if value in s.special:
        return value
    if (s.lo is not None and value < s.lo) or (s.hi is not None and value > s.hi):
        raise _refuse(f, _range_words(f, whole), value)
    if s.multiple_of and int(value) % s.multiple_of:
        raise InvalidParamsError(
            f"{s.label} must be a multiple of {s.multiple_of}, not {_fmt(value)}.",
            hint=s.help or None,
        )
    return value


def check_fields(obj: Any) -> None:
    """Check and normalise every field of the (frozen) params object ``obj`` in place."""
    for f in specs(type(obj)):
        value = coerce(f, getattr(obj, f.name))
        object.__setattr__(obj, f.name, value)


def lenient(cls: type, record: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A record read back (a sidecar's params): each field's value where it is still valid,
    else its default (``defaults`` first, then the studio's); unknown keys are dropped."""
    out: dict[str, Any] = {}
    for f in specs(cls):
        fallback = (defaults or {}).get(f.name, f.ui_default())
        v = record.get(f.name, fallback) if isinstance(record, Mapping) else fallback
        try:
            out[f.name] = coerce(f, v)
        except InvalidParamsError:
            out[f.name] = fallback
    return out


def ui_defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.ui_default() for f in specs(cls)}


def describe(cls: type) -> list[dict[str, Any]]:
    """Each field as JSON-friendly facts (for docs, ``--help`` and tests)."""
    rows = []
    for f in specs(cls):
        s = f.spec
        rows.append(
            {
                "name": f.name,
                "label": s.label,
                "help": s.help,
                "default": f.default,
                "range": [s.lo, s.hi] if s.lo is not None or s.hi is not None else None,
                "choices": list(s.allowed() or ()) or None,
                "flag": f.flag,
                "group": s.group,
            }
        )
    return rows


# --- the CLI ----------------------------------------------------------------------------------


def _arg_type(f: FieldInfo) -> Callable[[str], Any]:
    t = f.base

    def parse(text: str) -> Any:
        try:
            v: Any = int(text) if t is int else float(text) if t is float else text
        except ValueError:
            noun = "whole number" if t is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None
        return v  # ranges are checked with the params (a message with its hint, exit 2)

    parse.__name__ = {int: "whole number", float: "number"}.get(t, "text")
    return parse


def _default_words(f: FieldInfo) -> str:
    d = f.default if f.spec.cli_default is _MISSING else f.spec.cli_default
    if d is None:
        return "the model's own"
    if d in ("", (), [], {}):
        return ""
    return _fmt(d)


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: Sequence[str] = ()) -> None:
    """One flag per field of ``cls`` (see the module docstring); every default is ``None``
    (= not given), so :func:`from_args` passes only what the user typed."""
    for f in specs(cls):
        if f.flag is None or f.name in skip:
            continue
        s = f.spec
        words = _default_words(f)
        help_ = s.help.rstrip(".") + (f" (default: {words})" if words else "")
        kw: dict[str, Any] = {"dest": f.name, "default": None, "help": help_ or None}
        origin = typing.get_origin(f.base)
        if f.base is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif origin in (tuple, list):
            kw["action"] = "append"
            kw["metavar"] = s.cli_metavar or "FILE"
        elif origin is dict:
            kw["action"] = "append"
            kw["metavar"] = s.cli_metavar or "KEY=VALUE"
        else:
            allowed = s.allowed()
            if allowed is not None and f.base is str and "" not in allowed:
                kw["choices"] = list(allowed)
            else:
                kw["type"] = _arg_type(f)
            if s.cli_metavar:
                kw["metavar"] = s.cli_metavar
        parser.add_argument(f.flag, **kw)


def _pairs(flag: str, pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParamsError(
                f"{flag} {pair!r} is not key=value", hint=f"Example: {flag} hair_color=red"
            )
        out[key.strip()] = value.strip()
    return out


def from_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The params dict of what the flags of :func:`add_arguments` were given (plus each field's
    ``cli_default``)."""
    out: dict[str, Any] = {}
    for f in specs(cls):
        if f.flag is None:
            continue
        v = getattr(args, f.name, None)
        if v is None:
            if f.spec.cli_default is not _MISSING:
                out[f.name] = f.spec.cli_default
            continue
        if typing.get_origin(f.base) is dict:
            v = _pairs(f.flag, v)
        elif typing.get_origin(f.base) in (tuple, list):
            v = [str(x) for x in v]
        out[f.name] = v
    return out


def groups(cls: type) -> Iterator[tuple[str, list[FieldInfo]]]:
    """Fields by group, in first-seen order."""
    seen: dict[str, list[FieldInfo]] = {}
    for f in specs(cls):
        seen.setdefault(f.spec.group, []).append(f)
    yield from seen.items()
