"""Light and dark themes: a Fusion palette plus a small stylesheet, kept as Python constants."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colors:
    name: str
    window: str
    base: str
    alt: str
    panel: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    hover: str
    danger: str
    warning: str
    success: str
    info_bg: str
    warning_bg: str
    error_bg: str


LIGHT = Colors(
    name="light",
    window="#f3f4f7",
    base="#ffffff",
    alt="#f7f8fa",
    panel="#e9ebf0",
    text="#1c1e24",
    muted="#6b7080",
    border="#d3d7df",
    accent="#4a6cf7",
    accent_text="#ffffff",
    hover="#e2e6f3",
    danger="#d23f3f",
    warning="#b7791f",
    success="#2f9e5b",
    info_bg="#e6ecff",
    warning_bg="#fff3d6",
    error_bg="#fde4e4",
)

DARK = Colors(
    name="dark",
    window="#1f2126",
    base="#17181c",
    alt="#23252b",
    panel="#2a2d34",
    text="#e4e6eb",
    muted="#9298a6",
    border="#363a43",
    accent="#6f8cff",
    accent_text="#0f1117",
    hover="#2f333c",
    danger="#f06b6b",
    warning="#e0a846",
    success="#52c47f",
    info_bg="#25304f",
    warning_bg="#43381f",
    error_bg="#4a2426",
)

_current: Colors = LIGHT


def current() -> Colors:
    return _current


def resolve(name: str) -> Colors:
    """ "light" | "dark" | "system" -> the colours to use ("system" follows the OS)."""
    if name == "dark":
        return DARK
    if name == "light":
        return LIGHT
    try:
        scheme = QGuiApplication.styleHints().colorScheme()
        return DARK if scheme == Qt.ColorScheme.Dark else LIGHT
    except Exception:  # no application yet, or an old Qt
        return LIGHT


def palette(c: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup
    for r, value in (
        (role.Window, c.window),
        (role.WindowText, c.text),
        (role.Base, c.base),
        (role.AlternateBase, c.alt),
        (role.ToolTipBase, c.panel),
        (role.ToolTipText, c.text),
        (role.PlaceholderText, c.muted),
        (role.Text, c.text),
        (role.Button, c.panel),
        (role.ButtonText, c.text),
        (role.BrightText, c.danger),
        (role.Highlight, c.accent),
        (role.HighlightedText, c.accent_text),
        (role.Link, c.accent),
        (role.Light, c.base),
        (role.Midlight, c.alt),
        (role.Mid, c.border),
        (role.Dark, c.border),
        (role.Shadow, "#000000"),
    ):
        p.setColor(r, QColor(value))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor(c.muted))
    return p


def stylesheet(c: Colors) -> str:
    return f"""
QMainWindow::separator {{ background: {c.border}; width: 1px; height: 1px; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{ background: {c.panel}; padding: 5px 8px; }}
QListWidget#Sidebar {{
    background: {c.panel}; border: none; border-right: 1px solid {c.border};
    padding: 8px 6px; outline: 0;
}}
QListWidget#Sidebar::item {{ padding: 9px 10px; margin: 2px 0; border-radius: 6px; color: {c.text}; }}
QListWidget#Sidebar::item:hover {{ background: {c.hover}; }}
QListWidget#Sidebar::item:selected {{ background: {c.accent}; color: {c.accent_text}; }}
QFrame#MessageBar {{ border-radius: 6px; margin: 0; }}
QFrame#MessageBar[level="info"] {{ background: {c.info_bg}; border: 1px solid {c.accent}; }}
QFrame#MessageBar[level="warning"] {{ background: {c.warning_bg}; border: 1px solid {c.warning}; }}
QFrame#MessageBar[level="error"] {{ background: {c.error_bg}; border: 1px solid {c.danger}; }}
QFrame#JobRow {{
    background: {c.base}; border: 1px solid {c.border}; border-radius: 6px;
}}
QLabel#JobTitle {{ font-weight: 600; }}
QLabel#Muted, QLabel#JobMessage {{ color: {c.muted}; }}
QLabel#StateChip {{
    border-radius: 8px; padding: 1px 8px; font-size: 11px; font-weight: 600;
    color: {c.accent_text}; background: {c.muted};
}}
QLabel#StateChip[state="running"] {{ background: {c.accent}; }}
QLabel#StateChip[state="done"] {{ background: {c.success}; }}
QLabel#StateChip[state="failed"] {{ background: {c.danger}; }}
QLabel#StateChip[state="cancelled"] {{ background: {c.warning}; }}
QLabel#StateChip[state="set_aside"] {{ background: {c.danger}; }}
QLabel#EmptyState {{ color: {c.muted}; font-size: 14px; }}
QLabel#SectionTitle {{ font-weight: 600; font-size: 14px; }}
QLabel#FieldName {{ color: {c.muted}; }}
QLineEdit#ValueField {{ background: transparent; border: none; padding: 0; }}
QFrame#DetailPane {{ background: {c.alt}; border-left: 1px solid {c.border}; }}
QFrame#FilterBar {{ background: {c.window}; border-bottom: 1px solid {c.border}; }}
QListView#GalleryGrid {{ background: {c.base}; border: none; }}
QProgressBar {{
    border: none; border-radius: 3px; background: {c.panel}; max-height: 6px; text-align: center;
}}
QProgressBar::chunk {{ border-radius: 3px; background: {c.accent}; }}
QToolButton#Star {{ border: none; font-size: 16px; color: {c.muted}; padding: 0 1px; }}
QToolButton#Star:checked {{ color: {c.warning}; }}
QPushButton#Primary {{
    background: {c.accent}; color: {c.accent_text}; border: none; border-radius: 5px;
    padding: 6px 14px; font-weight: 600;
}}
QPushButton#Primary:disabled {{ background: {c.border}; color: {c.muted}; }}
QPlainTextEdit#LogView {{ font-family: monospace; font-size: 11px; }}
QStatusBar QLabel {{ color: {c.muted}; padding: 0 6px; }}
"""


def apply_theme(app: QApplication, name: str) -> Colors:
    """Apply "light", "dark" or "system" to the whole application; returns the colours."""
    global _current
    colors = resolve(name)
    _current = colors
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette(colors))
    app.setStyleSheet(stylesheet(colors))
    app.setProperty("genstudio_theme", colors.name)
    style = app.style()
    for w in app.allWidgets():  # property selectors ([level=...]) need a fresh polish
        # (dynamicPropertyNames, not property(): PySide 6.12 mis-counts None for unset ones)
        names = w.dynamicPropertyNames()
        if b"level" in names or b"state" in names:
            style.unpolish(w)
            style.polish(w)
        w.update()
    from genstudio.ui import icons

    icons.clear_cache()
    return colors
