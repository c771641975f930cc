"""The gallery's detail pane: everything known about one asset, and what can be done to it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError
from genstudio.ui import icons, modes

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
PREVIEW = 256


def parse_tags(text: str) -> list[str]:
    seen: list[str] = []
    for t in text.replace(";", ",").split(","):
        t = t.strip()
        if t and t not in seen:
            seen.append(t)
    return seen


def open_folder(path: Path) -> bool:
    """Open ``path`` in the system file manager (patched in tests)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def open_file(path: Path) -> bool:
    """Open ``path`` in the system's default application for it (patched in tests)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class DetailPane(QFrame):
    """Shows one AssetRecord; edits go to the Gallery, then ``ctx.asset_changed`` fires."""

    parent_requested = Signal(str)  # asset id of the parent asset

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.record: AssetRecord | None = None
        self.setObjectName("DetailPane")
        self.setMinimumWidth(300)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        body.setObjectName("DetailBody")
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(14, 14, 14, 14)
        lay.setSpacing(10)

        self.empty = QLabel("Select an asset to see its details.")
        self.empty.setObjectName("EmptyState")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.empty)

        self.content = QWidget()
        c = QVBoxLayout(self.content)
        c.setContentsMargins(0, 0, 0, 0)
        c.setSpacing(10)
        lay.addWidget(self.content)
        lay.addStretch(1)

        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(160)
        self.preview.setMinimumWidth(1)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title = QLabel()
        self.title.setObjectName("SectionTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        c.addWidget(self.preview)
        c.addWidget(self.title)

        actions = QHBoxLayout()
        actions.setSpacing(2)
        self.favorite_btn = QToolButton()
        self.favorite_btn.setObjectName("Star")
        self.favorite_btn.setCheckable(True)
        self.favorite_btn.setText("\u2665")
        self.favorite_btn.setToolTip("Favorite")
        self.favorite_btn.toggled.connect(self._set_favorite)
        actions.addWidget(self.favorite_btn)
        actions.addSpacing(8)
        self.stars: list[QToolButton] = []
        for i in range(1, 6):
            b = QToolButton()
            b.setObjectName("Star")
            b.setCheckable(True)
            b.setText("\u2605")
            b.setToolTip(f"{i} star{'s' if i > 1 else ''}")
            b.clicked.connect(lambda _=False, n=i: self._set_rating(n))
            self.stars.append(b)
            actions.addWidget(b)
        actions.addStretch(1)
        self.folder_btn = QToolButton()
        self.folder_btn.setIcon(icons.icon("folder", 18))
        self.folder_btn.setToolTip("Open the folder that holds this file")
        self.folder_btn.setAutoRaise(True)
        self.folder_btn.clicked.connect(self._open_folder)
        self.trash_btn = QToolButton()
        self.trash_btn.setAutoRaise(True)
        self.trash_btn.clicked.connect(self._toggle_trash)
        actions.addWidget(self.folder_btn)
        actions.addWidget(self.trash_btn)
        c.addLayout(actions)

        self.reuse_btn = QPushButton("Reuse these settings")
        self.reuse_btn.setObjectName("Primary")
        self.reuse_btn.setIcon(icons.icon("reuse", 16, role="accent_text"))
        self.reuse_btn.clicked.connect(self._reuse)
        c.addWidget(self.reuse_btn)

        self.tags = QLineEdit()
        self.tags.setPlaceholderText("tags, comma separated")
        self.tags.editingFinished.connect(self._save_tags)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(5)
        form.addRow(self._name("Tags"), self.tags)
        self.fields: dict[str, QLabel | QLineEdit] = {}
        for key, label in (
            ("kind", "Kind"),
            ("generator", "Generator"),
            ("model", "Model"),
            ("seed", "Seed"),
            ("created", "Created"),
            ("size", "Size"),
            ("sha256", "SHA-256"),
            ("parent", "Parent"),
            ("file", "File"),
            ("status", "Status"),
        ):
            v: QLabel | QLineEdit
            if key in ("sha256", "parent", "file"):  # long unbreakable ids: scroll, copyable
                v = QLineEdit()
                v.setReadOnly(True)
                v.setFrame(False)
                v.setObjectName("ValueField")
                v.setMinimumWidth(60)
            else:
                v = QLabel()
                v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                v.setWordWrap(True)
                v.setTextFormat(Qt.TextFormat.PlainText)
            self.fields[key] = v
            form.addRow(self._name(label), v)
        c.addLayout(form)
        params_title = QLabel("Parameters")
        params_title.setObjectName("FieldName")
        c.addWidget(params_title)
        self.params = QPlainTextEdit()
        self.params.setReadOnly(True)
        self.params.setObjectName("LogView")
        self.params.setMinimumHeight(120)
        c.addWidget(self.params)
        self.content.hide()

    @staticmethod
    def _name(text: str) -> QLabel:
        lbl = QLabel(text)
        lbl.setObjectName("FieldName")
        return lbl

    # --- showing ----------------------------------------------------------------------------

    def show_record(self, rec: AssetRecord | None) -> None:
        self.record = rec
        self.empty.setVisible(rec is None)
        self.content.setVisible(rec is not None)
        if rec is None:
            return
        writable = not self._read_only()
        prompt = (rec.params.get("prompt") or "").strip() if isinstance(rec.params, dict) else ""
        self.title.setText(prompt or rec.file)
        for w in [self.favorite_btn, *self.stars]:
            w.blockSignals(True)
        self.favorite_btn.setChecked(bool(rec.favorite))
        for i, b in enumerate(self.stars, start=1):
            b.setChecked(i <= rec.rating)
        for w in [self.favorite_btn, *self.stars]:
            w.blockSignals(False)
            w.setEnabled(writable)
        self.tags.setText(", ".join(rec.tags))
        self.tags.setEnabled(writable)
        self.trash_btn.setEnabled(writable)
        self.trash_btn.setIcon(icons.icon("restore" if rec.trashed else "trash", 18))
        self.trash_btn.setToolTip("Restore from the trash" if rec.trashed else "Move to the trash")
        model = rec.model_id or "-"
        if rec.model_sha256:
            model += f"  ({rec.model_sha256[:12]})"
        f = self.fields
        f["kind"].setText(rec.kind)
        f["generator"].setText(rec.generator)
        f["model"].setText(model)
        f["seed"].setText("-" if rec.seed is None else str(rec.seed))
        f["created"].setText(rec.created.replace("T", " ")[:19] + " UTC")
        f["size"].setText(_human_size(rec.size))
        f["sha256"].setText(rec.sha256)
        f["sha256"].setCursorPosition(0)  # type: ignore[union-attr]
        f["parent"].setText(rec.parent or "-")
        f["file"].setText(rec.file)
        f["status"].setText(
            {"ok": "ok"}.get(rec.status, f"{rec.status} - the file is {rec.status}")
        )
        shown = dict(rec.params) if isinstance(rec.params, dict) else {"params": rec.params}
        if rec.extra:
            shown = {**shown, "_extra": rec.extra}
        self.params.setPlainText(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
        target = modes.mode_for_generator(rec.generator)
        self.reuse_btn.setEnabled(target is not None)
        self.reuse_btn.setToolTip(
            f"Open {target.title} with these parameters"
            if target
            else f"No mode in this studio makes '{rec.generator}' assets"
        )
        self._show_preview(rec)

    def _show_preview(self, rec: AssetRecord) -> None:
        from genstudio.ui import theme

        project = self.ctx.project
        pm = QPixmap()
        is_image = rec.kind in ("image", "sprite") or rec.file.lower().endswith(
            (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
        )
        if project is not None and is_image:
            try:
                path: Path | None = project.asset_path(rec)
            except Exception:
                path = None
            if path is not None and path.exists():
                from genstudio.ui.imagefile import load_image

                loaded, _why = load_image(path, PREVIEW)
                if loaded is not None:
                    pm = QPixmap.fromImage(loaded.image)
        if pm.isNull():
            name = {"music": "music", "audio": "audio", "sprite": "sprites"}.get(rec.kind, "file")
            self.preview.setPixmap(icons.pixmap(name, 72, theme.current().muted))
            return
        if pm.width() < PREVIEW // 2 and pm.height() < PREVIEW // 2:
            factor = max(1, min(PREVIEW // max(pm.width(), 1), PREVIEW // max(pm.height(), 1)))
            pm = pm.scaled(
                pm.width() * factor,
                pm.height() * factor,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )  # pixel art stays crisp
        self.preview.setPixmap(pm)

    def _read_only(self) -> bool:
        p = self.ctx.project
        return p is None or bool(p.read_only)

    # --- edits ------------------------------------------------------------------------------

    def _edit(self, what: str, fn) -> None:
        rec = self.record
        project = self.ctx.project
        if rec is None or project is None:
            return
        try:
            fn(project.gallery, rec.id)
            self.record = project.gallery.get(rec.id)
        except GenStudioError as e:
            self.ctx.show_message(f"Could not {what}: {e.user_message()}", "error")
            self.show_record(rec)
            return
        self.ctx.asset_changed.emit(rec.id)
        self.show_record(self.record)

    def _set_favorite(self, value: bool) -> None:
        self._edit("change the favorite", lambda g, i: g.set_favorite(i, value))

    def _set_rating(self, n: int) -> None:
        if self.record is None:
            return
        stars = 0 if self.record.rating == n else n  # clicking the current rating clears it
        self._edit("set the rating", lambda g, i: g.set_rating(i, stars))

    def _save_tags(self) -> None:
        if self.record is None:
            return
        tags = parse_tags(self.tags.text())
        if tags != list(self.record.tags):
            self._edit("save the tags", lambda g, i: g.set_tags(i, tags))

    def _toggle_trash(self) -> None:
        if self.record is None:
            return
        if self.record.trashed:
            self._edit("restore the asset", lambda g, i: g.restore(i))
        else:
            self._edit("move the asset to the trash", lambda g, i: g.trash(i))

    def _open_folder(self) -> None:
        rec, project = self.record, self.ctx.project
        if rec is None or project is None:
            return
        open_folder(project.asset_path(rec).parent)

    def _reuse(self) -> None:
        if self.record is not None:
            self.ctx.request_reuse(self.record)


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"
