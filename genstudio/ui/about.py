"""About GenStudio: version, licenses, third-party components and model cards."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from genstudio import __version__
from genstudio.ui import services

if TYPE_CHECKING:
    from genstudio.core.project import Project


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th align='left'>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table cellspacing='0' cellpadding='4'><tr>{head}</tr>{body}</table>"


class AboutDialog(QDialog):
    def __init__(self, project: Project | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About GenStudio")
        self.resize(640, 520)
        lay = QVBoxLayout(self)
        head = QLabel(
            f"<h2>GenStudio {html.escape(__version__)}</h2>"
            "<p>An offline studio for images, music and character sprites, generated on your "
            "own machine. Nothing is sent anywhere.</p><p>GenStudio is MIT licensed.</p>"
        )
        head.setWordWrap(True)
        lay.addWidget(head)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)

        third = _table(
            ["Component", "License", "Copyright / attribution"],
            [list(row) for row in services.THIRD_PARTY],
        )
        self.components = self._browser(
            "<p>GenStudio is built on these components:</p>"
            + third
            + "<p>Qt is used under the LGPL-3.0 through PySide6; you may replace the Qt "
            "libraries shipped with GenStudio with your own build.</p>"
        )
        self.tabs.addTab(self.components, "Third-party components")

        cards = services.model_cards(project)
        if cards:
            models_html = _table(
                ["Model pack", "Kind", "Version", "License", "Attribution"],
                [[c.id, c.kind, c.version, c.license, c.attribution] for c in cards],
            )
        else:
            models_html = "<p>No model packs are installed yet.</p>"
        self.models = self._browser("<p>Model packs and their licenses:</p>" + models_html)
        self.tabs.addTab(self.models, "Model cards")

        for lic in services.license_files():
            self.tabs.addTab(self._browser(markdownish(lic.text)), lic.title)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)

    @staticmethod
    def _browser(html_text: str) -> QTextBrowser:
        b = QTextBrowser()
        b.setOpenExternalLinks(False)
        b.setHtml(html_text)
        return b

    def all_text(self) -> str:
        return "\n".join(
            self.tabs.widget(i).toPlainText()  # type: ignore[attr-defined]
            for i in range(self.tabs.count())
        )

    def tab_titles(self) -> list[str]:
        return [self.tabs.tabText(i) for i in range(self.tabs.count())]


def markdownish(text: str) -> str:
    """License files are Markdown or plain text; QTextDocument renders Markdown itself."""
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setMarkdown(text)
    return doc.toHtml()
