"""A non-blocking message strip floating over the top of the panels (errors, read-only
projects, notices). It is an overlay, not part of any layout: showing or hiding it never moves
a control, so a click aimed at a button cannot land on another one."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsDropShadowEffect,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QWidget,
)

#: widest the strip gets, and its margin from the panels' edges
MAX_WIDTH = 760
MARGIN = 8

INFO_TIMEOUT_MS = 8000


class MessageBar(QFrame):
    """Shows the newest message; info messages fade after a while, warnings/errors stay."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.setProperty("level", "info")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.more = QLabel()
        self.more.setObjectName("Muted")
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.more)
        lay.addWidget(close)
        self._pending = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.history: list[tuple[str, str]] = []
        shadow = QGraphicsDropShadowEffect(self)
        shadow.setBlurRadius(18)
        shadow.setOffset(0, 3)
        shadow.setColor(Qt.GlobalColor.black)
        self.setGraphicsEffect(shadow)
        if parent is not None:
            parent.installEventFilter(self)
        self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.parent() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.place()
        return False

    def enterEvent(self, event) -> None:  # noqa: N802 - Qt API: being read, so it stays
        self._timer.stop()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.isVisible() and self.level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        super().leaveEvent(event)

    def place(self) -> None:
        """Centre the strip at the top of its parent, as tall as its text needs."""
        parent = self.parentWidget()
        if parent is None:
            return
        width = min(MAX_WIDTH, max(200, parent.width() - 2 * MARGIN))
        self.setFixedWidth(width)
        self.adjustSize()
        self.move((parent.width() - width) // 2, MARGIN)
        self.raise_()

    @property
    def level(self) -> str:
        return str(self.property("level"))

    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, level: str = "info") -> None:
        self.history.append((level, text))
        del self.history[:-50]
        if self.isVisible() and self.level == "error" and level != "error":
            # never let a notice hide an error the user has not read
            self._pending += 1
        else:
            if self.isVisible():
                self._pending += 1
            self.setProperty("level", level)
            self.label.setText(text)
            self.style().unpolish(self)
            self.style().polish(self)
        self.more.setText(f"+{self._pending} more (see Log)" if self._pending else "")
        self.show()
        self.place()
        if self.level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def dismiss(self) -> None:
        self._timer.stop()
        self._pending = 0
        self.hide()
        self.closed.emit()
