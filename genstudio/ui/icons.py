"""Small line icons kept as SVG constants and tinted with the theme's colours."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap

_SVG: dict[str, str] = {
    "gallery": (
        '<rect x="3" y="3" width="7" height="7" rx="1.5"/><rect x="14" y="3" width="7" '
        'height="7" rx="1.5"/><rect x="3" y="14" width="7" height="7" rx="1.5"/>'
        '<rect x="14" y="14" width="7" height="7" rx="1.5"/>'
    ),
    "sprites": (
        '<rect x="9" y="2.5" width="6" height="6" rx="1"/><path d="M7 11h10v6H7z"/>'
        '<path d="M9 17v4.5M15 17v4.5M7 12l-3 4M17 12l3 4"/>'
    ),
    "images": (
        '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="9.5" r="1.8"/>'
        '<path d="M3.5 18l5.5-5.5 4 4 3-3 4.5 4.5"/>'
    ),
    "music": (
        '<path d="M9 18V5l11-2v13"/><circle cx="6.5" cy="18" r="2.5"/>'
        '<circle cx="17.5" cy="16" r="2.5"/>'
    ),
    "train": (
        '<path d="M2.5 9.5L12 5l9.5 4.5L12 14z"/><path d="M6.5 11.8v4.4c0 1.5 2.5 2.8 5.5 '
        '2.8s5.5-1.3 5.5-2.8v-4.4"/><path d="M21.5 9.5v5.5"/>'
    ),
    "queue": '<path d="M4 6h16M4 12h16M4 18h10"/><path d="M17 16l3 2-3 2z"/>',
    "log": '<rect x="4" y="3" width="16" height="18" rx="2"/><path d="M8 8h8M8 12h8M8 16h5"/>',
    "folder": '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
    "trash": ('<path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/>'),
    "restore": '<path d="M4 12a8 8 0 1 0 2.5-5.8M4 4v5h5"/>',
    "reuse": '<path d="M4 12a8 8 0 0 1 14-5.3M20 12a8 8 0 0 1-14 5.3M18 3v4h-4M6 21v-4h4"/>',
    "cancel": '<path d="M6 6l12 12M18 6L6 18"/>',
    "retry": '<path d="M20 12a8 8 0 1 1-2.5-5.8M20 4v5h-5"/>',
    "search": '<circle cx="10.5" cy="10.5" r="6.5"/><path d="M15.5 15.5L21 21"/>',
    "star": '<path d="M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1-4.4-4.3 6.1-.9z"/>',
    "audio": '<path d="M3 12h2M7 8v8M11 4v16M15 7v10M19 10v4M21 12h0"/>',
    "file": '<path d="M6 3h8l4 4v14H6z"/><path d="M14 3v4h4"/>',
    "lock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7.5a4 4 0 0 1 8 0V11"/>',
    "unlock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7.5a4 4 0 0 1 7.7-1.5"/>',
    "settings": (
        '<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 '
        '2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1"/>'
    ),
}

_cache: dict[tuple[str, str, int], QPixmap] = {}


def svg(name: str, color: str, *, fill: str = "none") -> bytes:
    body = _SVG.get(name, _SVG["file"])
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" '
        f'fill="{fill}" stroke="{color}" stroke-width="1.8" stroke-linecap="round" '
        f'stroke-linejoin="round">{body}</svg>'
    ).encode()


def pixmap(name: str, size: int = 20, color: str | None = None, *, fill: bool = False) -> QPixmap:
    from PySide6.QtSvg import QSvgRenderer

    from genstudio.ui import theme

    color = color or theme.current().text
    key = (name + (":fill" if fill else ""), color, size)
    if key in _cache:
        return _cache[key]
    renderer = QSvgRenderer(QByteArray(svg(name, color, fill=color if fill else "none")))
    pm = QPixmap(size * 2, size * 2)
    pm.setDevicePixelRatio(2.0)
    pm.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    _cache[key] = pm
    return pm


class _ThemedEngine(QIconEngine):
    """Paints the SVG in the theme's colour at paint time, so icons follow a theme switch."""

    def __init__(self, name: str, role: str) -> None:
        super().__init__()
        self.name = name
        self.role = role

    def _color(self, mode: QIcon.Mode) -> str:
        from genstudio.ui import theme

        c = theme.current()
        if mode == QIcon.Mode.Disabled:
            return c.muted
        if mode == QIcon.Mode.Selected and self.role == "text":
            return c.accent_text
        return str(getattr(c, self.role, c.text))

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        from PySide6.QtSvg import QSvgRenderer

        renderer = QSvgRenderer(QByteArray(svg(self.name, self._color(mode))))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(rect))
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pm = QPixmap(size)
        pm.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pm)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pm

    def clone(self) -> QIconEngine:
        return _ThemedEngine(self.name, self.role)


def icon(name: str, size: int = 20, role: str = "text") -> QIcon:
    """A themed icon; ``role`` names a Colors field ("text", "muted", "accent_text", ...)."""
    return QIcon(_ThemedEngine(name, role))


def clear_cache() -> None:
    _cache.clear()
