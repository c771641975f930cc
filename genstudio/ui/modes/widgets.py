"""Small painters and icons shared by the mode panels' own widgets: extra line icons and the
rounded result tiles of the Images results strip and the Sprites candidate grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QIcon, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from genstudio.ui import icons

if TYPE_CHECKING:
    from collections.abc import Callable

# Line icons in the house style (24x24 viewBox, stroked) that more than one mode adds.
DICE_SVG = (
    '<rect x="3.5" y="3.5" width="17" height="17" rx="3.5"/>'
    '<circle cx="8.5" cy="8.5" r="1.2"/><circle cx="15.5" cy="15.5" r="1.2"/>'
    '<circle cx="12" cy="12" r="1.2"/><circle cx="15.5" cy="8.5" r="1.2"/>'
    '<circle cx="8.5" cy="15.5" r="1.2"/>'
)
PLAY_SVG = '<path d="M7 4.5v15l12-7.5z" fill="currentColor"/>'
PAUSE_SVG = '<path d="M8 5v14M16 5v14" stroke-width="3"/>'
EXPORT_SVG = '<path d="M12 3v12M7 10l5 5 5-5"/><path d="M4 17v3h16v-3"/>'


def register_icons(prefix: str, extra: dict[str, str]) -> Callable[..., QIcon]:
    """Add a mode's extra icons to the icon table once (as ``<prefix>-<name>``) and return its
    ``icon(name, size=16, role="text")``, which falls back to the shared icons."""
    for name, body in extra.items():
        icons._SVG.setdefault(f"{prefix}-{name}", body.replace("currentColor", "none"))

    def icon(name: str, size: int = 16, role: str = "text") -> QIcon:
        return icons.icon(f"{prefix}-{name}" if name in extra else name, size, role)

    return icon


def begin_tile(
    painter: QPainter, option: QStyleOptionViewItem, inset: int, radius: float
) -> tuple[QRect, bool, bool]:
    """Start painting a result tile: save the painter and fill the rounded tile (the palette's
    base colour) ``inset`` pixels inside the item. Returns (tile rect, selected, hovered)."""
    pal = option.palette
    r = option.rect.adjusted(inset, inset, -inset, -inset)
    selected = bool(option.state & QStyle.StateFlag.State_Selected)
    hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(pal.color(QPalette.ColorRole.Base))
    painter.drawRoundedRect(r, radius, radius)
    return r, selected, hover


def end_tile(
    painter: QPainter,
    pal: QPalette,
    r: QRect,
    radius: float,
    selected: bool,
    hover: bool,
    half_pixel: bool = False,
) -> None:
    """Finish a result tile: its outline (highlight when selected or hovered, else the mid
    colour; ``half_pixel`` puts a 1-px outline on pixel centres), then restore the painter."""
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if selected:
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 2.5))
        painter.drawRoundedRect(QRectF(r).adjusted(1, 1, -1, -1), radius, radius)
    else:
        role = QPalette.ColorRole.Highlight if hover else QPalette.ColorRole.Mid
        painter.setPen(QPen(pal.color(role)))
        d = 0.5 if half_pixel else 0.0
        painter.drawRoundedRect(QRectF(r).adjusted(d, d, -d, -d), radius, radius)
    painter.restore()
