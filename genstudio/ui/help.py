"""The Help menu's pages: getting started, and the keyboard shortcuts (read from the window's
own actions, so the list cannot drift from what the keys really do)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

GETTING_STARTED = """
<h3>Getting started</h3>
<p>Everything you make is saved in a <b>project</b> (a folder you choose: <i>Project &rarr; New
Project</i>). The <b>Gallery</b> finds, tags and re-runs anything in it.</p>
<ol>
<li><b>Sprites</b>: describe a character ("elf archer with a green hood") or pick attributes,
press <b>Generate</b>, click a candidate to see it walk, then <b>Export</b> a sheet for your
engine (Aseprite, Godot, PixiJS, Phaser, Unity).</li>
<li><b>Images</b>: type what the image should show ("red apple, glossy, game icon"). The
built-in model makes 64&times;64 icons; <i>Import model</i> (or a drop) adds a Stable
Diffusion checkpoint (.safetensors) or model folder you have; <b>Export</b> (Ctrl+E) saves
pictures with their settings.</li>
<li><b>Music</b>: pick a style, key and tempo and press Generate; drop a .mid file on the
piano roll to continue it, vary it or add drums.</li>
<li><b>Train</b>: teach the music model your own MIDI files (needs the training add-on in a
packaged studio).</li>
</ol>
<p>Every Generate uses a new random seed; click the lock beside the seed to keep one (the
same seed and settings give the same result). <i>Reuse these settings</i> in the Gallery puts
an old result's settings back.</p>
<p>Nothing leaves your machine: GenStudio never connects to the network.</p>
"""


def _page(title: str, parent: QWidget | None) -> tuple[QDialog, QVBoxLayout]:
    dlg = QDialog(parent)
    dlg.setWindowTitle(title)
    lay = QVBoxLayout(dlg)
    return dlg, lay


def _close_button(dlg: QDialog, lay: QVBoxLayout) -> None:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    lay.addWidget(buttons)


def getting_started_dialog(parent: QWidget | None = None) -> QDialog:
    dlg, lay = _page("Getting started", parent)
    text = QLabel(GETTING_STARTED)
    text.setWordWrap(True)
    text.setObjectName("GettingStarted")
    lay.addWidget(text)
    lay.addStretch(1)
    _close_button(dlg, lay)
    dlg.resize(560, 460)
    return dlg


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(what, keys) for every action with a shortcut, in menu order, keys as the platform
    writes them ("Ctrl+N"), the mnemonic '&' and trailing '...' removed."""
    rows: list[tuple[str, str]] = []
    for act in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts()]
        keys = [k for k in keys if k]
        if not keys:
            continue
        what = act.text().replace("&", "").removesuffix("...").strip()
        row = (what, " or ".join(dict.fromkeys(keys)))
        if row not in rows:
            rows.append(row)
    return rows


def shortcuts_dialog(actions: list[QAction], parent: QWidget | None = None) -> QDialog:
    dlg, lay = _page("Keyboard shortcuts", parent)
    rows = shortcut_rows(actions)
    table = QTableWidget(len(rows), 2)
    table.setObjectName("Shortcuts")
    table.setHorizontalHeaderLabels(["Action", "Keys"])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    for i, (what, keys) in enumerate(rows):
        table.setItem(i, 0, QTableWidgetItem(what))
        table.setItem(i, 1, QTableWidgetItem(keys))
    lay.addWidget(table)
    _close_button(dlg, lay)
    dlg.resize(440, 420)
    return dlg
