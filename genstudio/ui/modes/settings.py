"""A mode's settings, derived from its generator's params (Qt-free).

:func:`settings_class` makes the mutable dataclass a panel edits from the generator's params
class (``genstudio.generators.fields``): one attribute per field, starting at the field's studio
default, plus the panel's own extras (which model to run, say). ``to_params`` is the job's params
dict; ``from_params`` reads a record back (a sidecar: what is missing or no longer valid keeps its
default; fields marked ``reuse=False`` - "which batch this varies" - always start fresh).
Nothing here names a parameter, so a field added to the params class is carried without a change.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields


class SettingsBase:
    """Methods of every settings class (see :func:`settings_class`)."""

    PARAMS: ClassVar[type]
    EXTRAS: ClassVar[tuple[str, ...]] = ()

    def to_params(self) -> dict[str, Any]:
        """The job's params: every field of the params class, as its spec stores it."""
        out: dict[str, Any] = {}
        for f in fields.specs(self.PARAMS):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple | list) else copy.copy(v)
        return out

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(copy.deepcopy(self), **changes)  # type: ignore[type-var]

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **extras: Any) -> Any:
        """Settings from a record's params; unusable values keep the studio's defaults."""
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not this mode's parameters.")
        keep = {f.name: v for f, v in zip(fields.specs(cls.PARAMS), _values(cls, params), strict=True)}
        return cls(**keep, **extras)

    def check_params(self) -> Any:
        """The params object these settings make (InvalidParamsError when they are not valid)."""
        return self.PARAMS.from_dict(self.to_params())


def _values(cls: type[SettingsBase], params: Mapping[str, Any]) -> list[Any]:
    got = fields.lenient(cls.PARAMS, params)
    return [
        got[f.name] if f.spec.reuse else f.ui_default() for f in fields.specs(cls.PARAMS)
    ]


def settings_class(name: str, params: type, **extras: Any) -> type:
    """A mutable dataclass ``name`` with every field of ``params`` (studio defaults) and the
    keyword ``extras`` (name = default) first; subclass it to add a mode's own methods."""
    spec: list[tuple[str, Any, Any]] = []
    for key, default in extras.items():
        spec.append((key, Any, dataclasses.field(default_factory=_factory(default))))
    for f in fields.specs(params):
        spec.append((f.name, Any, dataclasses.field(default_factory=_factory(f.ui_default()))))
    cls = dataclasses.make_dataclass(name, spec, bases=(SettingsBase,))
    cls.PARAMS = params
    cls.EXTRAS = tuple(extras)
    return cls


def _factory(default: Any):
    if isinstance(default, tuple):
        return lambda: list(default)
    return lambda: copy.deepcopy(default)
