"""Controls bound to params fields: each control's range, choices, label, tooltip and value come
from the field's spec (``genstudio.generators.fields``), so a panel never repeats them.

    b = Binder(SpriteParams)
    count = b.spin("count")                 # a QSpinBox ranged, suffixed and explained by the spec
    grid.addWidget(b.label("count"), 0, 0)
    ...
    more = b.rest()                         # a control for every field no code placed by hand
    values = b.values()                     # {field: value} of every field (bound or carried)
    b.apply(settings_dict)                  # controls <- values; the others are carried

A field shown by no control (``ui=False``, or one the panel draws itself, such as a prompt box it
binds with :meth:`Binder.bind`) is *carried*: :meth:`values` returns what :meth:`apply` last gave
it, so reusing an asset's settings reproduces it. A field the panel does not place and whose spec
says ``ui=True`` gets a control in :meth:`rest` (grouped by the spec's ``group``): adding a field to
a generator shows it in the studio without touching the panel.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTextEdit,
    QWidget,
)

from genstudio.generators import fields

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


class Binder:
    """The controls of one params class (see the module docstring)."""

    def __init__(self, params: type, *, value_labels: Mapping[str, Callable[[Any], str]] | None = None):
        self.params = params
        self._fields = {f.name: f for f in fields.specs(params)}
        self._widgets: dict[str, tuple[QWidget, Callable[[], Any], Callable[[Any], None]]] = {}
        self._carried: dict[str, Any] = fields.ui_defaults(params)
        self._value_labels = dict(value_labels or {})

    # --- making controls ----------------------------------------------------------------------

    def info(self, name: str) -> fields.FieldInfo:
        return self._fields[name]

    def label(self, name: str, text: str | None = None) -> QLabel:
        """The field's name in front of its control (the theme's ``#FieldName``)."""
        f = self._fields[name]
        lab = QLabel(text or f.spec.label)
        lab.setObjectName("FieldName")
        if f.spec.help:
            lab.setToolTip(f.spec.help)
        return lab

    def spin(self, name: str, widget: QSpinBox | None = None) -> QSpinBox:
        f = self._fields[name]
        w = widget or QSpinBox()
        lo = f.spec.lo if f.spec.lo is not None else 0
        if f.spec.special:
            lo = min([lo, *(v for v in f.spec.special if isinstance(v, int | float))])
        hi = f.spec.hi if f.spec.hi is not None else INT_LIMIT
        w.setRange(int(lo), int(min(hi, INT_LIMIT)))
        if f.spec.special and f.spec.special_label:
            w.setSpecialValueText(f.spec.special_label)
        if f.spec.unit:
            _plural_suffix(w, f.spec.unit)
        return self.bind(name, w, w.value, lambda v: w.setValue(int(self._number(f, v))))

    def dspin(self, name: str, widget: QDoubleSpinBox | None = None, *, decimals: int = 2,
              step: float = 0.05) -> QDoubleSpinBox:  # fmt: skip
        f = self._fields[name]
        w = widget or QDoubleSpinBox()
        w.setDecimals(decimals)
        w.setSingleStep(step)
        w.setRange(float(f.spec.lo or 0.0), float(f.spec.hi if f.spec.hi is not None else 1e9))
        if f.spec.unit:
            w.setSuffix(f.spec.unit)
        return self.bind(name, w, w.value, lambda v: w.setValue(float(self._number(f, v))))

    @staticmethod
    def _number(f: fields.FieldInfo, v: Any) -> float:
        """None ("the model's own") shows as the studio default, else the range's start."""
        if v is None:
            v = f.ui_default()
        return v if v is not None else (f.spec.lo or 0)

    def seed(self, name: str, widget: QLineEdit) -> QLineEdit:
        """The seed field (text): its value is ``parse_seed`` of the text (InvalidParamsError
        when it is not a seed)."""
        from genstudio.ui.modes.seeds import parse_seed

        return self.bind(name, widget, lambda: parse_seed(widget.text()),
                         lambda v: widget.setText(str(v)))  # fmt: skip

    def combo(self, name: str, widget: QComboBox | None = None,
              items: Sequence[tuple[str, Any]] | None = None) -> QComboBox:  # fmt: skip
        """A combo box of the field's choices (``items`` = (label, value) pairs to show them
        otherwise); a value not in the list is added, so a record is never silently changed."""
        f = self._fields[name]
        w = widget or QComboBox()
        if w.count() == 0:
            shown = self._value_labels.get(name, _value_text)
            for text, value in items or [(shown(v), v) for v in f.spec.allowed() or ()]:
                w.addItem(text, value)

        def set_(v: Any) -> None:
            i = w.findData(v)
            if i < 0:
                w.addItem(_value_text(v), v)
                i = w.count() - 1
            w.setCurrentIndex(i)

        return self.bind(name, w, w.currentData, set_)

    def check(self, name: str, widget: QCheckBox | None = None) -> QCheckBox:
        w = widget or QCheckBox(self._fields[name].spec.label)
        return self.bind(name, w, w.isChecked, lambda v: w.setChecked(bool(v)))

    def line(self, name: str, widget: QLineEdit | None = None) -> QLineEdit:
        f = self._fields[name]
        w = widget or QLineEdit()
        if f.spec.max_len:
            w.setMaxLength(f.spec.max_len)
        return self.bind(name, w, w.text, lambda v: w.setText(str(v)))

    def text(self, name: str, widget: QPlainTextEdit | QTextEdit | None = None) -> QPlainTextEdit:
        w = widget or QPlainTextEdit()

        def set_(v: Any) -> None:
            if w.toPlainText() != v:
                w.setPlainText(str(v))

        return self.bind(name, w, w.toPlainText, set_)  # type: ignore[return-value]

    def bind(self, name: str, widget: Any, get: Callable[[], Any] | None = None,
             set_: Callable[[Any], None] | None = None) -> Any:  # fmt: skip
        """Register ``widget`` as the control of field ``name`` (its tooltip from the spec);
        ``get``/``set_`` read and write its value (for a control the panel draws itself)."""
        f = self._fields[name]
        if f.spec.help and not widget.toolTip():
            widget.setToolTip(f.spec.help)
        self._widgets[name] = (widget, get or (lambda: self._carried[name]),
                               set_ or (lambda v: None))  # fmt: skip
        return widget

    def widget(self, name: str) -> Any:
        return self._widgets[name][0]

    def bound(self) -> list[str]:
        return list(self._widgets)

    # --- values -------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Every field: the bound controls' values, the carried values for the rest."""
        out = dict(self._carried)
        for name, (_w, get, _s) in self._widgets.items():
            out[name] = get()
        return out

    def apply(self, values: Mapping[str, Any]) -> None:
        """Controls <- ``values`` (field names; others are ignored); unbound fields are carried."""
        for name, v in values.items():
            if name not in self._fields:
                continue
            self._carried[name] = v
            if name in self._widgets:
                self._widgets[name][2](v)

    # --- the rest -----------------------------------------------------------------------------

    def rest(self, *, exclude: Sequence[str] = ()) -> QWidget | None:
        """Controls for the fields the panel did not place (``ui=True``, not bound, not in
        ``exclude``), by group; None when there are none."""
        todo = [
            f for f in fields.specs(self.params)
            if f.spec.ui and f.name not in self._widgets and f.name not in exclude
        ]  # fmt: skip
        if not todo:
            return None
        box = QWidget()
        box.setObjectName("MoreSettings")
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        for row, f in enumerate(todo):
            w = self._make(f)
            w.setObjectName(f"field_{f.name}")
            if isinstance(w, QCheckBox):
                grid.addWidget(w, row, 0, 1, 2)
            else:
                grid.addWidget(self.label(f.name), row, 0)
                grid.addWidget(w, row, 1)
            self._widgets[f.name][2](self._carried[f.name])
        return box

    def _make(self, f: fields.FieldInfo) -> QWidget:
        t = f.base
        if f.spec.allowed() is not None:
            return self.combo(f.name)
        if t is bool:
            return self.check(f.name)
        if t is int and f.spec.kind != "seed":
            return self.spin(f.name)
        if t is float:
            return self.dspin(f.name)
        if typing.get_origin(t) is not None:  # lists and mappings: no generic control
            raise TypeError(f"field {f.name!r} needs ui=False or a control of its own")
        return self.line(f.name)


def _value_text(v: Any) -> str:
    if v == "":
        return "none"
    if isinstance(v, str):
        return v.replace("_", " ")
    return str(v)


def singular(unit: str, n: float) -> str:
    """``unit`` for a count of ``n``: " characters" -> " character" when n is 1."""
    if n == 1 and unit.endswith("s") and not unit.endswith("ss") and unit.strip() != "bpm":
        return unit[:-1]
    return unit


def _plural_suffix(w: QSpinBox, unit: str) -> None:
    """A spin box suffix that agrees with its number ("1 character", "8 characters")."""
    w.setSuffix(singular(unit, w.value()))
    if singular(unit, 1) != unit:  # only counted units change ("px" stays; a panel may re-set it)
        w.valueChanged.connect(lambda v: w.setSuffix(singular(unit, v)))
