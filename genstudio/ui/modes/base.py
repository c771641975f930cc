"""The base class of every mode panel (Sprites, Images, Music, Gallery)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QFrame, QLabel, QPushButton, QScrollArea, QWidget

from genstudio.core.errors import GenStudioError

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.jobs import Job
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)


def muted_label(text: str = "") -> QLabel:
    """A secondary-text label (styled by the theme's ``#Muted`` rule)."""
    lab = QLabel(text)
    lab.setObjectName("Muted")
    return lab


def add_generate_button(lay: QBoxLayout, on_click, tooltip: str) -> QPushButton:
    """The primary Generate button of a controls column, with its Ctrl+Enter hint below."""
    button = QPushButton("Generate")
    button.setObjectName("Primary")
    button.setToolTip(tooltip)
    button.setMinimumHeight(34)
    button.clicked.connect(on_click)
    lay.addWidget(button)
    hint = muted_label("Ctrl+Enter")
    hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(hint)
    return button


def controls_scroll(body: QWidget, width: int, name: str) -> QScrollArea:
    """A mode's left controls column: vertical scrolling only, fixed width, no frame."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    scroll.setFixedWidth(width)
    scroll.setObjectName(name)
    return scroll


class ModePanel(QWidget):
    """A panel shown in the main window's central area when its mode is selected.

    Subclasses build their controls from a Qt-free params object and call
    :meth:`submit` to run a generator. The main window calls the hooks below:

    - :meth:`apply_settings` for "Reuse these settings" from the gallery,
    - :meth:`generate` for Ctrl+Enter,
    - :meth:`accepts_drop` / :meth:`handle_drop` for files dropped on the window,
    - :meth:`focus_search` for Ctrl+F,
    - :meth:`activated` each time the mode becomes visible.
    """

    #: set by the main window from the ModeSpec
    mode_id: str = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    # --- hooks ------------------------------------------------------------------------------

    def apply_settings(self, record: AssetRecord) -> None:
        """Fill the controls from an asset's ``params``/``seed``/``model_id`` (reuse)."""
        raise NotImplementedError(f"{type(self).__name__} cannot reuse settings")

    def can_apply_settings(self) -> bool:
        return type(self).apply_settings is not ModePanel.apply_settings

    def generate(self) -> bool:
        """Start a generation with the current controls (Ctrl+Enter); False if nothing to do."""
        return False

    def accepts_drop(self, path: Path) -> bool:
        return False

    def handle_drop(self, path: Path) -> None:
        raise NotImplementedError

    def focus_search(self) -> bool:
        return False

    def activated(self) -> None:
        """Called each time the panel becomes the visible mode."""

    def shutdown(self) -> None:
        """Called once when the window closes: stop timers and background work."""

    # --- helpers for subclasses -------------------------------------------------------------

    def submit(self, generator: str, params: dict[str, Any], title: str = "") -> Job | None:
        """Queue a job; shows a message and returns None when the params are refused."""
        try:
            return self.ctx.jobs.submit(generator, params, title=title)
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "error")
            return None
