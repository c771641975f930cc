"""The Train mode: teach the music model a style from the user's MIDI files.

Left, the controls edit a :class:`state.TrainSettings`: what to train, the material (a drop
zone for folders and MIDI files, *Add folder...*, *Add files...*), the style's name, the length
in plain words (:func:`genstudio.generators.training.preset_words`) and an *Advanced* section.
*Start training* submits a ``train.music`` job through the job bridge; the job runner runs it
in a training child process, so the studio never imports torch.

Right, three cards: the data report of the material (``dataset.scan``, always on a worker
thread), the current run (progress, a live :class:`~.lossplot.LossPlot`, the latest preview
piano roll with Play/Stop, the hardware line, Pause/Resume/Cancel) and the past runs of the
project (Resume, *Use this model* in the Music mode, Show folder).

The current run is followed two ways: job events over the bridge (immediate) and a 500 ms
QTimer that reads only the new bytes of the run's ``log.jsonl`` and, now and then, its
``run.json`` - so after a restart the panel rebuilds the curve and the preview from the run
folder alone. Every slow thing (scanning, listing runs - which hashes checkpoints -, reading the
whole log once, decoding the preview, rendering its audio) runs on a short-lived worker thread
whose result comes back through a queued signal; the GUI thread only paints.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QPixmap,
    QRegularExpressionValidator,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableView,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.core.jobs import EventType
from genstudio.generators import training as tr
from genstudio.ui import icons
from genstudio.ui.modes.base import (
    ModePanel,
    controls_body,
    controls_scroll,
    field_label,
    info_label,
    muted_label,
    section_title,
    titled_card,
)
from genstudio.ui.modes.train import state
from genstudio.ui.modes.train.lossplot import LossPlot
from genstudio.ui.modes.widgets import PLAY_SVG, register_icons

if TYPE_CHECKING:
    from genstudio.core.jobs import Job, JobEvent
    from genstudio.core.project import Project
    from genstudio.generators.music.dataset import DataReport
    from genstudio.generators.music.playback import Player
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
POLL_MS = 500
#: run.json is read every this many polls (the log every poll)
RUN_EVERY = 4
#: bytes of new log read per poll on the GUI thread (a whole old log is read on a worker)
POLL_CHUNK = 256 << 10
ROLE_FOLDER = Qt.ItemDataRole.UserRole + 1
EMPTY_PREVIEW_H = 96
MAX_PREVIEW_H = 260

_EXTRA_SVG = {
    "play": PLAY_SVG,
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1.5"/>',
    "pause": '<path d="M8 5v14M16 5v14" stroke-width="3"/>',
    "add-folder": (
        '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>'
        '<path d="M12 10.5v5M9.5 13h5"/>'
    ),
    "add-file": '<path d="M6 3h8l4 4v14H6z"/><path d="M14 3v4h4M12 11v6M9 14h6"/>',
    "drop": '<path d="M12 3v11M7.5 9.5L12 14l4.5-4.5"/><path d="M4 15v4a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-4"/>',
    "expand": '<path d="M9 6l6 6-6 6"/>',
    "collapse": '<path d="M6 9l6 6 6-6"/>',
}
icon = register_icons("train", _EXTRA_SVG)

_STYLE = """
QFrame#DropZone {
    border: 1.5px dashed palette(mid); border-radius: 7px; background: palette(base);
}
QFrame#DropZone[hover="true"] { border-color: palette(highlight); }
QLabel#PreviewImage { background: palette(base); border: 1px solid palette(mid); border-radius: 4px; }
QToolButton#Disclosure { border: none; font-weight: 600; padding: 2px 0; }
QToolButton#Transport { padding: 3px; border-radius: 4px; }
QLabel#ReportSummary { font-weight: 600; }
QTreeWidget#TrainRuns::item { padding: 3px 2px; }
"""


def open_folder(path: Path) -> bool:
    """Open ``path`` in the system file manager (patched in tests)."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _remove_trees(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def _local_paths(md) -> list[Path]:
    if md is None or not md.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]


class DropZone(QFrame):
    """'Drop MIDI files or folders here': accepts local files and folders from a file manager."""

    paths_dropped = Signal(list)  # list[Path]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DropZone")
        self.setAcceptDrops(True)
        self.setMinimumHeight(74)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(2)
        self.icon_label = QLabel()
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.icon_label.setPixmap(icon("drop", 22, "muted").pixmap(22, 22))
        lay.addWidget(self.icon_label)
        self.text = QLabel("Drop MIDI files or folders here")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.text)
        hint = muted_label("folders are searched inside, too")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(hint)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        from PySide6.QtCore import QEvent

        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.icon_label.setPixmap(icon("drop", 22, "muted").pixmap(22, 22))
        super().changeEvent(event)

    def _hover(self, on: bool) -> None:
        self.setProperty("hover", on)
        self.style().unpolish(self)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
            self._hover(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._hover(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        self._hover(False)
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.paths_dropped.emit(paths)


class ReportModel(QAbstractTableModel):
    """The data report's rows: file, used/skipped, reason, bars (any number of files)."""

    HEADERS = ("File", "Used", "Reason", "Bars")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, str, str, str, str]] = []

    def set_rows(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return list(self._rows)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row[4] if col == 0 else (row[2] or None)
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            from genstudio.ui import theme

            c = theme.current()
            return QColor(c.success if row[1] == "used" else c.warning)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


def _message_frame() -> tuple[QFrame, QLabel]:
    """A warning bar in the window's message-bar style, hidden until it has something to say."""
    frame = QFrame()
    frame.setObjectName("MessageBar")
    frame.setProperty("level", "warning")
    lay = QHBoxLayout(frame)
    lay.setContentsMargins(10, 6, 10, 6)
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    lay.addWidget(label, 1)
    frame.hide()
    return frame, label


class TrainPanel(ModePanel):
    """Material -> data report -> a ``train.music`` job -> live loss, previews -> a new style."""

    #: the data report of the current material is shown (also for no material)
    report_ready = Signal()
    #: the past-runs list was read again
    runs_loaded = Signal()
    #: a preview was shown (its step)
    preview_shown = Signal(int)
    #: the followed training job ended (job id, final state)
    training_over = Signal(str, str)
    #: audio of the shown preview is loaded
    audio_loaded = Signal()

    _bg_done = Signal(str, int, object, object)  # kind, token, result, error text
    _player_finished = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._closed = False
        self._sources: list[str] = []
        self._name_edited = False
        self._report: DataReport | None = None
        self._report_sources: list[str] | None = None
        self._report_view: tuple[str, str, list] = ("", "", [])
        self._scanning = False
        self._tokens: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._runs: dict[str, state.RunInfo] = {}
        self._runs_loading = False
        self._select_when_listed: str | None = None
        self._device_hint = "cpu"
        # the run shown in the Training card and the job that writes it (if any)
        self._run: Path | None = None
        self._job_id: str | None = None
        self._paused = False
        self._tail: state.LogTail | None = None
        self._tail_ready = False
        self._polls = 0
        self._preview_step = -1
        self._preview_midi: str | None = None
        self._preview_pixmap: QPixmap | None = None
        self._start_info: dict[str, Any] = {}
        self._hardware_words = ""
        self._doc_key: tuple = ()
        self._player: Player | None = None
        self._audio_key = ""
        self._play_when_loaded = False

        self.setAcceptDrops(True)
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addWidget(self._build_controls())
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(10, 10, 10, 10)
        rl.setSpacing(8)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_report())
        self.splitter.addWidget(self._build_training())
        self.splitter.addWidget(self._build_runs())
        for i, s in enumerate((2, 4, 2)):
            self.splitter.setStretchFactor(i, s)
        self.splitter.setSizes([210, 400, 190])
        rl.addWidget(self.splitter, 1)
        root.addWidget(right, 1)
        self.setStyleSheet(_STYLE)

        self._bg_done.connect(self._on_bg_done, Qt.ConnectionType.QueuedConnection)
        self._player_finished.connect(self._update_transport, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

        jobs = ctx.jobs
        jobs.job_event.connect(self._on_job_event)
        jobs.jobs_reset.connect(self._on_jobs_reset)
        gen_sig = getattr(jobs, "generator_event", None) or getattr(jobs, "jobEvent", None)
        if gen_sig is not None:
            gen_sig.connect(self._on_generator_event)
        ctx.project_changed.connect(self._on_project_changed)

        self._update_preset_words()
        self._show_report_state()
        self._on_project_changed(ctx.project)

    # ====================================================================== building

    def _build_controls(self) -> QWidget:
        body, lay = controls_body("TrainControls")

        lay.addWidget(section_title("What to train"))
        self.kind = QComboBox()
        for kind, label in state.KINDS:
            self.kind.addItem(label, kind)
        self.kind.setToolTip("A new music style, learnt from your MIDI files")
        lay.addWidget(self.kind)
        note = muted_label(state.KIND_NOTE)
        note.setWordWrap(True)
        lay.addWidget(note)

        lay.addSpacing(6)
        hdr = QHBoxLayout()
        hdr.addWidget(section_title("Material"))
        hdr.addStretch(1)
        self.remove_button = QToolButton()
        self.remove_button.setIcon(icons.icon("trash", 16))
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip("Remove the selected files or folders from the material")
        self.remove_button.clicked.connect(self.remove_selected_sources)
        hdr.addWidget(self.remove_button)
        lay.addLayout(hdr)
        self.drop_zone = DropZone()
        self.drop_zone.paths_dropped.connect(self.add_sources)
        lay.addWidget(self.drop_zone)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.add_folder_button = QPushButton("Add folder\u2026")
        self.add_folder_button.setIcon(icon("add-folder"))
        self.add_folder_button.setToolTip("A folder of MIDI files (searched inside, too)")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.add_files_button = QPushButton("Add files\u2026")
        self.add_files_button.setIcon(icon("add-file"))
        self.add_files_button.setToolTip("One or more MIDI files")
        self.add_files_button.clicked.connect(self.choose_files)
        row.addWidget(self.add_folder_button, 1)
        row.addWidget(self.add_files_button, 1)
        lay.addLayout(row)
        self.material_list = QListWidget()
        self.material_list.setObjectName("TrainMaterial")
        self.material_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.material_list.setFixedHeight(84)
        self.material_list.setIconSize(QSize(16, 16))
        self.material_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.material_list.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.material_list)

        lay.addSpacing(6)
        lay.addWidget(section_title("Name"))
        nrow = QHBoxLayout()
        nrow.setSpacing(6)
        nrow.addWidget(QLabel(state.NAME_PREFIX))
        self.name_edit = QLineEdit()
        self.name_edit.setMaxLength(state.MAX_NAME)
        self.name_edit.setPlaceholderText("Jigs and reels")
        self.name_edit.setToolTip("How the style is called in the Music mode's style list")
        self.name_edit.textEdited.connect(self._name_typed)
        self.name_edit.textChanged.connect(self._name_changed)
        nrow.addWidget(self.name_edit, 1)
        lay.addLayout(nrow)

        lay.addSpacing(6)
        lay.addWidget(section_title("How long"))
        self.preset_group = QButtonGroup(self)
        self.preset_buttons: dict[str, QRadioButton] = {}
        for p in state.PRESETS:
            rb = QRadioButton()
            rb.setProperty("preset", p)
            self.preset_group.addButton(rb)
            self.preset_buttons[p] = rb
            lay.addWidget(rb)
        self.preset_buttons["standard"].setChecked(True)
        self.preset_note = muted_label(
            "Longer usually sounds more like your material. You can pause, and stop early: "
            "the run keeps its checkpoints."
        )
        self.preset_note.setWordWrap(True)
        lay.addWidget(self.preset_note)

        lay.addSpacing(4)
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("Disclosure")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setIcon(icon("expand", 14))
        self.advanced_button.toggled.connect(self.set_advanced_visible)
        lay.addWidget(self.advanced_button)
        self.advanced_box = QWidget()
        grid = QGridLayout(self.advanced_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        self.method = QComboBox()
        for m, label in state.METHOD_LABELS.items():
            self.method.addItem(label, m)
            self.method.setItemData(
                self.method.count() - 1, state.METHOD_TIPS[m], Qt.ItemDataRole.ToolTipRole
            )
        self.method.setToolTip("How the model is trained")
        grid.addWidget(field_label("Method"), 0, 0)
        grid.addWidget(self.method, 0, 1)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSingleStep(100)
        self.steps.setSpecialValueText("from the time")
        self.steps.setToolTip("Training steps (0: as many as fit in the chosen time)")
        grid.addWidget(field_label("Steps"), 1, 0)
        grid.addWidget(self.steps, 1, 1)
        self.seed = QLineEdit(str(state.TrainSettings().seed))
        self.seed.setMaxLength(18)
        self.seed.setValidator(QRegularExpressionValidator(r"\d{0,18}", self.seed))
        self.seed.setToolTip("The same seed, material and settings train the same way")
        grid.addWidget(field_label("Seed"), 2, 0)
        grid.addWidget(self.seed, 2, 1)
        self.device = QComboBox()
        for d, label in state.DEVICE_LABELS.items():
            self.device.addItem(label, d)
        self.device.setToolTip("Where to train (Automatic: the GPU when there is one)")
        self.device.currentIndexChanged.connect(lambda _i: self._update_preset_words())
        grid.addWidget(field_label("Device"), 3, 0)
        grid.addWidget(self.device, 3, 1)
        self.advanced_box.hide()
        lay.addWidget(self.advanced_box)

        self.conflict_bar = QFrame()
        self.conflict_bar.setObjectName("MessageBar")
        self.conflict_bar.setProperty("level", "warning")
        cl = QVBoxLayout(self.conflict_bar)
        cl.setContentsMargins(10, 6, 10, 6)
        self.conflict_label = QLabel()
        self.conflict_label.setWordWrap(True)
        cl.addWidget(self.conflict_label)
        brow = QHBoxLayout()
        self.replace_button = QPushButton("Replace it")
        self.replace_button.setToolTip("Delete the old style and its run, and train this one")
        self.replace_button.clicked.connect(lambda: self.start(replace=True))
        self.rename_button = QPushButton("Another name")
        self.rename_button.clicked.connect(self._use_free_name)
        brow.addWidget(self.replace_button)
        brow.addWidget(self.rename_button)
        brow.addStretch(1)
        cl.addLayout(brow)
        self.conflict_bar.hide()
        lay.addSpacing(4)
        lay.addWidget(self.conflict_bar)

        lay.addStretch(1)
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("Primary")
        self.start_button.setMinimumHeight(34)
        self.start_button.clicked.connect(lambda: self.start())
        lay.addWidget(self.start_button)
        self.start_hint = muted_label()
        self.start_hint.setWordWrap(True)
        self.start_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.start_hint)
        return controls_scroll(body, 340, "TrainControlsScroll")

    def _build_report(self) -> QWidget:
        card, lay, hdr = titled_card("Your material")
        hdr.addSpacing(8)
        self.report_summary = QLabel()
        self.report_summary.setObjectName("ReportSummary")
        hdr.addWidget(self.report_summary)
        hdr.addStretch(1)
        self.report_problem_bar, self.report_problem = _message_frame()
        lay.addWidget(self.report_problem_bar)
        self.report_model = ReportModel(self)
        self.report_table = QTableView()
        self.report_table.setObjectName("TrainReport")
        self.report_table.setModel(self.report_model)
        self.report_table.setFrameShape(QFrame.Shape.NoFrame)
        self.report_table.setAlternatingRowColors(True)
        self.report_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.setWordWrap(False)
        self.report_table.verticalHeader().hide()
        self.report_table.verticalHeader().setDefaultSectionSize(22)
        h = self.report_table.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        h.resizeSection(0, 220)
        h.setHighlightSections(False)
        lay.addWidget(self.report_table, 1)
        return card

    def _build_training(self) -> QWidget:
        self.training_title = section_title("Training")
        card, lay, hdr = titled_card(self.training_title)
        hdr.addStretch(1)
        self.status_label = QLabel()  # its own line under the bar: the whole width for it
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setIcon(icon("pause", 14))
        self.pause_button.setToolTip("Pause after the current step (a checkpoint is kept)")
        self.pause_button.clicked.connect(self.pause)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setIcon(icon("play", 14))
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setIcon(icons.icon("cancel", 14))
        self.cancel_button.setToolTip(
            "Stop training; the run keeps its last checkpoint and can be resumed from the list"
        )
        self.cancel_button.clicked.connect(self.cancel)
        for b in (self.pause_button, self.resume_button, self.cancel_button):
            hdr.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        lay.addWidget(self.progress)
        lay.addWidget(self.status_label)
        self.hardware_label = info_label()
        lay.addWidget(self.hardware_label)

        body = QHBoxLayout()
        body.setSpacing(12)
        self.loss_plot = LossPlot()
        body.addWidget(self.loss_plot, 3)
        pv = QVBoxLayout()
        pv.setSpacing(4)
        phdr = QHBoxLayout()
        phdr.addWidget(field_label("Latest preview"))
        self.preview_info = muted_label()
        phdr.addWidget(self.preview_info, 1)
        pv.addLayout(phdr)
        self.preview_label = QLabel("Previews are written\na few times per run.")
        self.preview_label.setObjectName("PreviewImage")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumWidth(200)
        self.preview_label.setFixedHeight(EMPTY_PREVIEW_H)
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        pv.addWidget(self.preview_label)
        trow = QHBoxLayout()
        trow.setSpacing(4)
        self.play_button = QToolButton()
        self.play_button.setObjectName("Transport")
        self.play_button.setIcon(icon("play", 18))
        self.play_button.setIconSize(QSize(18, 18))
        self.play_button.setToolTip("Play the preview")
        self.play_button.clicked.connect(self.play_preview)
        self.stop_button = QToolButton()
        self.stop_button.setObjectName("Transport")
        self.stop_button.setIcon(icon("stop", 18))
        self.stop_button.setIconSize(QSize(18, 18))
        self.stop_button.setToolTip("Stop")
        self.stop_button.clicked.connect(self.stop_preview)
        trow.addWidget(self.play_button)
        trow.addWidget(self.stop_button)
        self.audio_note = muted_label()
        self.audio_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        trow.addWidget(self.audio_note, 1)
        pv.addLayout(trow)
        self.preview_note = muted_label(
            "A short piece the model writes with what it has learnt so far: listen to the style "
            "growing."
        )
        self.preview_note.setWordWrap(True)
        pv.addWidget(self.preview_note)
        pv.addStretch(1)
        pw = QWidget()
        pw.setLayout(pv)
        body.addWidget(pw, 2)
        lay.addLayout(body, 1)
        return card

    def _build_runs(self) -> QWidget:
        card, lay, hdr = titled_card("Past runs")
        hdr.addStretch(1)
        self.resume_run_button = QPushButton("Resume")
        self.resume_run_button.setToolTip(
            "Go on training the selected run from its last checkpoint"
        )
        self.resume_run_button.clicked.connect(lambda: self.resume_run(self.selected_run()))
        self.use_model_button = QPushButton("Use this model")
        self.use_model_button.setIcon(icons.icon("music", 16))
        self.use_model_button.setToolTip("Open the Music mode with this style selected")
        self.use_model_button.clicked.connect(lambda: self.use_model(self.selected_run()))
        self.show_folder_button = QPushButton("Show folder")
        self.show_folder_button.setIcon(icons.icon("folder", 16))
        self.show_folder_button.clicked.connect(lambda: self.show_folder(self.selected_run()))
        for b in (self.resume_run_button, self.use_model_button, self.show_folder_button):
            hdr.addWidget(b)
        self.runs_list = QTreeWidget()
        self.runs_list.setObjectName("TrainRuns")
        self.runs_list.setColumnCount(4)
        self.runs_list.setHeaderLabels(
            ["Style", "Status", "Steps", "Held-out loss (before \u2192 after)"]
        )
        self.runs_list.setRootIsDecorated(False)
        self.runs_list.setUniformRowHeights(True)
        self.runs_list.setAlternatingRowColors(True)
        self.runs_list.setFrameShape(QFrame.Shape.NoFrame)
        self.runs_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        rh = self.runs_list.header()
        rh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            rh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        rh.setStretchLastSection(False)
        self.runs_list.currentItemChanged.connect(self._run_selected)
        self.runs_list.itemDoubleClicked.connect(
            lambda item, _c: self.use_model(item.data(0, ROLE_FOLDER))
        )
        self.runs_empty = muted_label("No training runs in this project yet.")
        lay.addWidget(self.runs_list, 1)
        lay.addWidget(self.runs_empty)
        return card

    # ====================================================================== material

    def sources(self) -> list[str]:
        return list(self._sources)

    def add_sources(self, paths) -> int:
        """Add MIDI files and folders to the material (duplicates ignored); returns how many
        were new. The data report is made again on a worker thread."""
        added = 0
        for p in paths:
            s = str(Path(p).expanduser().absolute())
            if s not in self._sources:
                self._sources.append(s)
                added += 1
        if added:
            if not self._name_edited and not self.name_edit.text().strip():
                self.name_edit.setText(state.name_from_sources(self._sources))
            self._material_changed()
        return added

    def remove_sources(self, paths) -> None:
        gone = {str(Path(p).expanduser().absolute()) for p in paths}
        before = len(self._sources)
        self._sources = [s for s in self._sources if s not in gone]
        if len(self._sources) != before:
            self._material_changed()

    def remove_selected_sources(self) -> None:
        self.remove_sources(i.data(ROLE_FOLDER) for i in self.material_list.selectedItems())

    def clear_sources(self) -> None:
        if self._sources:
            self._sources = []
            self._material_changed()

    def choose_folder(self) -> None:
        start = self._sources[-1] if self._sources else str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "A folder of MIDI files", start)
        if path:
            self.add_sources([path])

    def choose_files(self) -> None:
        start = str(Path(self._sources[-1]).parent) if self._sources else str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "MIDI files", start, state.MIDI_FILTER)
        if paths:
            self.add_sources(paths)

    def _material_changed(self) -> None:
        self.material_list.clear()
        for s in self._sources:
            p = Path(s)
            item = QListWidgetItem(icons.icon("folder" if p.is_dir() else "music", 16), p.name or s)
            item.setToolTip(s)
            item.setData(ROLE_FOLDER, s)
            self.material_list.addItem(item)
        self._scan()

    def _scan(self) -> None:
        if not self._sources:
            self._scanning = False
            self._tokens["scan"] = self._tokens.get("scan", 0) + 1
            self._report, self._report_sources = None, []
            self._show_report_state()
            self.report_ready.emit()
            return
        self._scanning = True
        self._show_report_state()
        self._spawn("scan", _scan_sources, list(self._sources))

    def report(self) -> DataReport | None:
        """The data report of the current material (None while none is ready)."""
        return self._report if self.report_is_ready() else None

    def apply_request(self, payload: dict) -> None:
        """Another mode sent material (the gallery's "Train a style": MIDI asset files)."""
        sources = payload.get("sources")
        if isinstance(sources, list) and sources:
            self.add_sources([Path(str(p)) for p in sources])

    def report_is_ready(self) -> bool:
        """True when the report shown is the one of the current material."""
        return not self._scanning and self._report_sources == self._sources

    def report_rows(self) -> list[tuple[str, str, str, str, str]]:
        return self.report_model.rows()

    def usable_material(self) -> bool:
        r = self.report()
        return r is not None and bool(r.used)

    def _show_report_state(self) -> None:
        if self._scanning:
            self.report_summary.setText("Reading your material\u2026")
            self.report_problem_bar.hide()
            self._update_buttons()
            return
        if not self._sources:
            self.report_summary.setText("")
            self.report_model.set_rows([])
            self.report_problem.setText(
                "Add the music to learn from: drop a folder of MIDI files (.mid) on the left, "
                "or press 'Add folder\u2026'."
            )
            self.report_problem_bar.setProperty("level", "info")
            self._repolish(self.report_problem_bar)
            self.report_problem_bar.show()
            self._update_buttons()
            return
        report = self._report
        if report is None:
            return
        summary, problem, rows = self._report_view
        self.report_summary.setText(summary)
        self.report_model.set_rows(rows)
        self.report_problem.setText(problem)
        self.report_problem_bar.setProperty("level", "warning" if not report.used else "info")
        self._repolish(self.report_problem_bar)
        self.report_problem_bar.setVisible(bool(problem))
        self._update_buttons()

    @staticmethod
    def _repolish(w: QWidget) -> None:
        w.style().unpolish(w)
        w.style().polish(w)

    # ====================================================================== settings

    def current_settings(self) -> state.TrainSettings:
        preset = next((p for p, b in self.preset_buttons.items() if b.isChecked()), "standard")
        seed_text = self.seed.text().strip()
        return state.TrainSettings(
            kind=self.kind.currentData() or "music",
            sources=list(self._sources),
            name=self.name_edit.text().strip(),
            preset=preset,
            method=self.method.currentData() or "auto",
            steps=self.steps.value(),
            seed=int(seed_text) if seed_text else state.TrainSettings().seed,
            device=self.device.currentData() or "auto",
        )

    def set_advanced_visible(self, on: bool) -> None:
        if self.advanced_button.isChecked() != on:
            self.advanced_button.setChecked(on)
            return
        self.advanced_box.setVisible(on)
        self.advanced_button.setIcon(icon("collapse" if on else "expand", 14))

    def _update_preset_words(self) -> None:
        chosen = self.device.currentData() if hasattr(self, "device") else "auto"
        device = chosen if chosen in ("cpu", "cuda") else self._device_hint
        for p, b in self.preset_buttons.items():
            b.setText(tr.preset_words(p, device))

    def _name_typed(self, _text: str) -> None:
        self._name_edited = True

    def _name_changed(self, _text: str) -> None:
        self.conflict_bar.hide()
        self._update_buttons()

    def _use_free_name(self) -> None:
        project = self.ctx.project
        if project is None:
            return
        self.name_edit.setText(state.free_name(project.models_dir, self.name_edit.text()))
        self._name_edited = True
        self.conflict_bar.hide()

    # ====================================================================== start

    def start_blocked(self) -> str | None:
        """Why Start is off (its hint), or None when it is on."""
        project = self.ctx.project
        if project is None:
            return "Open or create a project first: the new style is saved in it."
        if project.read_only:
            return "This project is open read-only."
        if self._job_active():
            return "A training is running: pause or cancel it to start another."
        if not self._sources:
            return "Add MIDI material first."
        if not self.report_is_ready():
            return "Reading your material\u2026"
        if not self.usable_material():
            return "None of the material can be used (see the report)."
        if not self.name_edit.text().strip():
            return "Give the style a name."
        return None

    def generate(self) -> bool:
        self.start()
        return True

    def start(self, replace: bool = False) -> Job | None:
        """Submit the ``train.music`` job for the current settings. A name that is taken
        shows the choice to replace it or pick another (returns None); ``replace`` moves the
        old style's pack and run aside (deleted on a worker thread) first."""
        blocked = self.start_blocked()
        project = self.ctx.project
        if blocked or project is None:
            self.ctx.show_message(blocked or "Open a project first.", "warning")
            return None
        s = self.current_settings()
        try:
            s.check()
        except InvalidParamsError as e:
            self.ctx.show_message(e.user_message(), "error")
            return None
        models = project.models_dir
        out, run = s.paths(models)
        if state.taken(models, s.name):
            if self._run_in_use(run):
                self.ctx.show_message(
                    f"'{state.style_title(s.name)}' is being trained right now; pick another name.",
                    "warning",
                )
                return None
            if not replace:
                self.conflict_label.setText(
                    f"There is already a style called '{state.style_title(s.name)}' in this "
                    "project. Replace it (the old one is deleted), or give this one another name."
                )
                self.rename_button.setText(f"Name it '{state.free_name(models, s.name)}'")
                self.conflict_bar.show()
                return None
            try:
                self._move_aside([out, run])
            except OSError as e:
                self.ctx.show_message(f"The old style could not be removed: {e}", "error")
                return None
        self.conflict_bar.hide()
        params = s.to_params(models)
        title = state.job_title(s.name)
        try:
            state.write_job(run, params, title)
        except (GenStudioError, OSError) as e:
            text = e.user_message() if isinstance(e, GenStudioError) else str(e)
            self.ctx.show_message(f"The training could not be prepared: {text}", "error")
            return None
        job = self.submit(state.GENERATOR, params, title=title)
        if job is None:
            return None
        self._follow(job.id, run, fresh=True)
        self.status_label.setText("Queued\u2026")
        self._update_buttons()
        return job

    def _move_aside(self, paths: list[Path]) -> None:
        moved = []
        for p in paths:
            if os.path.lexists(p):
                dst = p.with_name(f".{p.name}.replaced-{secrets.token_hex(3)}")
                os.replace(p, dst)
                moved.append(dst)
        if moved:
            self._spawn("cleanup", _remove_trees, moved)
        self._runs.pop(str(paths[-1]), None)

    # ====================================================================== the followed run

    def current_job_id(self) -> str | None:
        return self._job_id

    def current_run(self) -> Path | None:
        return self._run

    def _job(self) -> Job | None:
        if self._job_id is None:
            return None
        try:
            return self.ctx.jobs.get(self._job_id)
        except Exception:
            return None

    def _job_active(self) -> bool:
        job = self._job()
        return job is not None and job.active

    def _train_jobs(self, active_only: bool = True) -> list[Job]:
        out = []
        try:
            jobs = self.ctx.jobs.jobs()
        except Exception:
            return out
        for j in jobs:
            if j.spec.generator.startswith("train.") and (j.active or not active_only):
                out.append(j)
        return out

    def _run_in_use(self, run: Path) -> bool:
        return any(Path(str(j.spec.params.get("run", ""))) == Path(run) for j in self._train_jobs())

    def _follow(self, job_id: str | None, run: Path, *, fresh: bool = False) -> None:
        self._job_id = job_id
        self._paused = False
        self.show_run(run, force=fresh)
        self.progress.setValue(0)

    def show_run(self, run: str | Path, *, force: bool = False) -> None:
        """Show ``run`` in the Training card: its curve and latest preview from the folder
        (read on a worker thread), then follow its log."""
        run = Path(run)
        if run == self._run and not force:
            return
        self._run = run
        self._tail = state.LogTail(run)
        self._tail_ready = False
        self._polls = 0
        self._start_info = {}
        self._hardware_words = ""
        self._doc_key = ()
        self.loss_plot.clear()
        self._preview_step = -1
        self._set_preview(None)
        doc = tr.read_run(run) or {}
        self._apply_run_doc(doc)
        name = (state.read_job(run) or {}).get("params", {}).get("name") or run.name
        self.training_title.setText(f"Training \u2013 {state.style_title(str(name))}")
        self._spawn("log", _read_whole_log, self._tail, run)
        if not self._closed:
            self._timer.start()
        self._update_buttons()

    def _apply_run_doc(self, doc: dict[str, Any]) -> None:
        cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        ms = cfg.get("max_steps") if cfg else None
        if isinstance(ms, int) and ms > 0:
            self.loss_plot.set_max_steps(ms)
        if doc.get("hardware") and not self._hardware_words:
            self._hardware_words = str(doc["hardware"])
        method = doc.get("method") or (cfg.get("method") if cfg else None)
        if method in ("lora", "full") and not self._start_info.get("method"):
            self._start_info = {**self._start_info, "method": method}
        key = (doc.get("status"), doc.get("step"), doc.get("error"))
        if not self._job_active() and key != self._doc_key:
            self._doc_key = key
            status = str(doc.get("status", ""))
            if status:
                words = state.STATUS_WORDS.get(status, status)
                step = doc.get("step")
                text = words.capitalize() + (f" at step {step}" if step else "")
                if status == "failed" and doc.get("error"):
                    text += f": {doc['error']}"
                self.status_label.setText(text)
                if status == "done":
                    self.progress.setValue(1000)
        self._update_hardware_line()

    def _update_hardware_line(self) -> None:
        info = self._start_info
        words = self._hardware_words
        if not words and not info:
            self.hardware_label.setText("")
            return
        method = str(info.get("method") or "")
        line = state.hardware_line(words, method, info.get("trainable"))
        if not self._job_active():
            line = line.replace("Training on", "Trained on", 1)
        self.hardware_label.setText(line)

    def poll(self) -> None:
        """Read what the run wrote since the last poll (the QTimer calls this every 500 ms)."""
        if self._closed or self._run is None or self._tail is None or not self._tail_ready:
            return
        self._polls += 1
        tail = self._tail
        tail.MAX_CHUNK = POLL_CHUNK
        rows = tail.read()
        if tail.reset:
            self.loss_plot.clear()
        self._apply_rows(rows)
        if self._polls % RUN_EVERY == 1:
            self._apply_run_doc(tr.read_run(self._run) or {})

    def feed_log_rows(self, rows: list[dict[str, Any]]) -> None:
        """Apply rows of ``log.jsonl`` (as the poll does); public for tests and tools."""
        self._apply_rows(rows)

    def _apply_rows(self, rows: list[dict[str, Any]]) -> None:
        preview: tuple[int, Any] | None = None
        for kind, step, v in state.log_items(rows):
            if kind == "preview":
                preview = (step, v)
            elif kind == "resumed":
                self.loss_plot.drop_after(step)
            elif kind == "loss":
                self.loss_plot.add_loss(step, v)
            else:
                self.loss_plot.add_eval(step, v)
        if preview is not None:
            self._offer_preview(*preview)

    # ====================================================================== events

    def _is_training_job(self, job_id: str) -> bool:
        try:
            return self.ctx.jobs.get(job_id).spec.generator.startswith("train.")
        except Exception:
            return False

    def _adopt(self, job_id: str) -> bool:
        """Follow ``job_id`` when it is a training job and none is followed; True if it is ours."""
        if job_id == self._job_id:
            return True
        if self._job_active() or not self._is_training_job(job_id):
            return False
        job = self.ctx.jobs.get(job_id)
        if not job.active:
            return False
        run = job.spec.params.get("run")
        if not run:
            return False
        self._follow(job_id, Path(str(run)), fresh=Path(str(run)) != self._run)
        return True

    def _on_job_event(self, event: JobEvent) -> None:
        if self._closed or not self._adopt(event.job_id):
            return
        if event.type == EventType.PROGRESS:
            self.progress.setValue(int(max(0.0, min(1.0, event.fraction)) * 1000))
            if event.message:
                self.status_label.setText(event.message)
        elif event.type == EventType.STATE and event.state is not None:
            st = event.state.value
            if st in ("done", "failed", "cancelled", "set_aside"):
                self._job_over(event.job_id, st)
            else:
                job = self._job()
                if job is not None and job.message:
                    self.status_label.setText(job.message)
                self._update_buttons()

    def _on_generator_event(self, job_id: str, name: str, data: object) -> None:
        if self._closed or not self._adopt(job_id):
            return
        self.apply_event(name, data if isinstance(data, dict) else {})

    def apply_event(self, name: str, data: dict[str, Any]) -> None:
        """One training event (as the bridge delivers it for the followed job)."""
        step = data.get("step")
        step = step if isinstance(step, int) and not isinstance(step, bool) else None
        if name == "hardware":
            self._hardware_words = str(data.get("words") or data.get("device") or "")
            dev = data.get("device")
            if dev in ("cpu", "cuda"):
                self._device_hint = str(dev)
                self._update_preset_words()
            self._update_hardware_line()
        elif name == "data":
            used, skipped = data.get("used", 0), data.get("skipped", 0)
            self.status_label.setText(f"Material read: {used} pieces used, {skipped} skipped")
        elif name == "start":
            self._start_info = dict(data)
            ms = data.get("max_steps")
            if isinstance(ms, int) and ms > 0:
                self.loss_plot.set_max_steps(ms)
            self._update_hardware_line()
        elif name == "loss" and step is not None:
            loss = state.number(data.get("loss"))
            if loss is not None:
                self.loss_plot.add_loss(step, loss)
        elif name == "eval" and step is not None:
            nll = state.number(data.get("nll"))
            if nll is not None:
                self.loss_plot.add_eval(step, nll)
        elif name == "preview" and step is not None:
            self._offer_preview(step, data.get("files"))
        elif name == "checkpoint" and step is not None:
            self.status_label.setToolTip(f"Last checkpoint: step {step} ({data.get('reason', '')})")
        elif name == "oom":
            self.ctx.show_message(str(data.get("message") or "Out of memory; going on."), "warning")
        elif name == "time_budget":
            self.status_label.setText("Time is up: writing the model\u2026")
        elif name == "resumed_from" and step is not None:
            self.loss_plot.drop_after(step)
            self.status_label.setText(f"Resumed from step {step:,}")
        elif name == "paused":
            self._paused = True
            self.status_label.setText("Paused")
            self._update_buttons()
        elif name == "resumed":
            self._paused = False
            self.status_label.setText("Resumed")
            self._update_buttons()
        elif name == "done":
            self.progress.setValue(1000)

    def _job_over(self, job_id: str, st: str) -> None:
        self._paused = False
        try:
            job = self.ctx.jobs.get(job_id)
            err = job.error or ""
        except Exception:
            err = ""
        name = ""
        if self._run is not None:
            name = (state.read_job(self._run) or {}).get("params", {}).get("name", "")
            doc = tr.read_run(self._run) or {}
            # the words below stand until the run folder says something new
            self._doc_key = (doc.get("status"), doc.get("step"), doc.get("error"))
        title = state.style_title(name) if name else "The new style"
        if st == "done":
            self.progress.setValue(1000)
            self.status_label.setText(f"Done: '{title}' is ready in the Music mode.")
            self.ctx.show_message(
                f"Training finished: '{title}' is in the Music mode's style list "
                "(or press 'Use this model').",
                "info",
            )
        elif st == "cancelled":
            self.status_label.setText("Stopped. Resume it from the list below.")
        elif st == "failed":
            self.status_label.setText(f"Failed: {err}" if err else "Failed.")
            self.ctx.show_message(f"Training failed: {err or 'see the log'}", "error")
        else:
            self.status_label.setText("Set aside after a crash; resume it from the list below.")
        self._update_hardware_line()
        self._update_buttons()
        if self._run is not None:
            self._select_when_listed = str(self._run)  # "Use this model" is one click away
        self.refresh_runs()
        self.training_over.emit(job_id, st)

    def _on_jobs_reset(self) -> None:
        self._job_id = None
        self._paused = False
        self._update_buttons()

    # ====================================================================== pause / resume / cancel

    def pause(self) -> None:
        self._pause_or_resume(True)

    def resume(self) -> None:
        self._pause_or_resume(False)

    def _pause_or_resume(self, pause: bool) -> None:
        if self._job_id is None:
            return
        try:
            (self.ctx.jobs.pause if pause else self.ctx.jobs.resume)(self._job_id)
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "warning")
            return
        self._paused = pause
        self.status_label.setText("Pausing\u2026" if pause else "Resuming\u2026")
        self._update_buttons()

    def cancel(self) -> None:
        if self._job_id is None:
            return
        try:
            self.ctx.jobs.cancel(self._job_id)
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "warning")
            return
        self.status_label.setText("Stopping\u2026")

    def is_paused(self) -> bool:
        if self._job_id is None:
            return False
        fn = getattr(self.ctx.jobs, "is_paused", None)
        try:
            return bool(fn(self._job_id)) if fn is not None else self._paused
        except Exception:
            return self._paused

    # ====================================================================== buttons

    def _update_buttons(self) -> None:
        if not hasattr(self, "runs_list"):
            return
        blocked = self.start_blocked()
        self.start_button.setEnabled(blocked is None)
        self.start_hint.setText(blocked or "Ctrl+Enter")
        job = self._job()
        running = job is not None and job.state.value == "running"
        paused = running and (self._paused or self.is_paused())
        can_pause = hasattr(self.ctx.jobs, "pause")
        self.pause_button.setEnabled(running and not paused and can_pause)
        self.resume_button.setEnabled(running and paused)
        self.cancel_button.setEnabled(job is not None and job.active)
        self.progress.setVisible(self._run is not None)
        self.remove_button.setEnabled(bool(self.material_list.selectedItems()))
        info = self._runs.get(self.selected_run() or "")
        busy = info is not None and self._run_in_use(Path(info.folder))
        self.resume_run_button.setEnabled(
            info is not None
            and info.can_resume
            and not busy
            and self._writable()
            and not self._job_active()
        )
        self.resume_run_button.setToolTip(
            "Go on training the selected run from its last checkpoint"
            if info is None or info.job is not None
            else "This run was not started in the studio; resume it where it was started."
        )
        self.use_model_button.setEnabled(info is not None and info.usable)
        self.show_folder_button.setEnabled(info is not None)
        self._update_transport()

    def _writable(self) -> bool:
        p = self.ctx.project
        return p is not None and not p.read_only

    # ====================================================================== past runs

    def refresh_runs(self) -> None:
        """Read the project's runs again (on a worker thread); ``runs_loaded`` follows."""
        project = self.ctx.project
        if project is None:
            self._tokens["runs"] = self._tokens.get("runs", 0) + 1
            self._fill_runs([])
            return
        self._runs_loading = True
        self._spawn("runs", state.load_runs, project.models_dir)

    def runs(self) -> list[state.RunInfo]:
        return list(self._runs.values())

    def runs_ready(self) -> bool:
        return not self._runs_loading

    def selected_run(self) -> str | None:
        item = self.runs_list.currentItem()
        return item.data(0, ROLE_FOLDER) if item is not None else None

    def select_run(self, folder: str | Path) -> None:
        for i in range(self.runs_list.topLevelItemCount()):
            item = self.runs_list.topLevelItem(i)
            if Path(item.data(0, ROLE_FOLDER)) == Path(folder):
                self.runs_list.setCurrentItem(item)
                return

    def _fill_runs(self, runs: list[state.RunInfo]) -> None:
        from genstudio.ui import theme

        keep = self._select_when_listed or self.selected_run()
        self._select_when_listed = None
        self._runs = {r.folder: r for r in runs}
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        c = theme.current()
        colors = {"done": c.success, "failed": c.danger, "cancelled": c.warning}
        for r in runs:
            item = QTreeWidgetItem(
                [state.style_title(r.name), r.status_words(), r.steps_words(), r.nll_words()]
            )
            item.setData(0, ROLE_FOLDER, r.folder)
            item.setToolTip(0, r.folder)
            if r.error:
                item.setToolTip(1, r.error)
            if r.status in colors:
                item.setForeground(1, QColor(colors[r.status]))
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.runs_list.addTopLevelItem(item)
        self.runs_list.blockSignals(False)
        if keep:
            self.select_run(keep)
        self.runs_empty.setVisible(not runs)
        self.runs_list.setVisible(bool(runs))
        self._device_hint = state.last_device(runs)
        self._update_preset_words()
        if self._run is None and runs and not self._job_active():
            self.show_run(runs[0].folder)  # after a restart: the newest run's curve
        self._update_buttons()

    def _run_selected(self, item: QTreeWidgetItem | None, _prev=None) -> None:
        if item is not None and not self._job_active():
            self.show_run(item.data(0, ROLE_FOLDER))
        self._update_buttons()

    def resume_run(self, folder: str | Path | None) -> Job | None:
        """Submit the saved job of a stopped run again; training goes on from its checkpoint."""
        info = self._runs.get(str(folder)) if folder else None
        if info is None:
            return None
        if not info.can_resume or info.job is None:
            self.ctx.show_message(
                "This run cannot be resumed here: "
                + (
                    "it has no complete checkpoint."
                    if not info.resumable
                    else "it was not started in the studio."
                ),
                "warning",
            )
            return None
        if self._job_active() or self._run_in_use(Path(info.folder)):
            self.ctx.show_message("A training is running already.", "warning")
            return None
        job = info.job
        title = str(job.get("title") or state.job_title(info.name))
        j = self.submit(str(job.get("generator") or state.GENERATOR), job["params"], title=title)
        if j is None:
            return None
        self._follow(j.id, Path(info.folder), fresh=True)
        self.status_label.setText(f"Resuming from step {info.checkpoint_step or 0:,}\u2026")
        self._update_buttons()
        return j

    def use_model(self, folder: str | Path | None) -> bool:
        """Open the Music mode with the style of a finished run selected."""
        info = self._runs.get(str(folder)) if folder else None
        if info is None or not info.usable:
            if info is not None:
                self.ctx.show_message("This run has not made a model yet.", "warning")
            return False
        request = getattr(self.ctx, "request_mode", None)
        if request is None:
            self.ctx.show_message(
                f"Pick '{info.style_title}' in the Music mode's style list.", "info"
            )
            return False
        request("music", {"model": info.pack_id, "style": info.style})
        return True

    def show_folder(self, folder: str | Path | None) -> bool:
        info = self._runs.get(str(folder)) if folder else None
        if info is None:
            return False
        path = Path(info.pack) if info.usable and info.pack else Path(info.folder)
        return open_folder(path)

    # ====================================================================== preview

    def _offer_preview(self, step: int, files: Any) -> None:
        if step < self._preview_step:
            return
        png = state.preview_png(files)
        midi = state.preview_midi(files)
        if png is None and midi is None:
            return
        self._preview_step = step
        self._preview_midi = midi
        self.preview_info.setText(f"step {step:,}")
        if png is not None:
            self._spawn("preview", _load_preview, png, step)
        self._update_transport()

    def _set_preview(self, pixmap: QPixmap | None) -> None:
        self._preview_pixmap = pixmap
        if pixmap is None:
            self.preview_label.setPixmap(QPixmap())
            self.preview_label.setFixedHeight(EMPTY_PREVIEW_H)
            self.preview_label.setText("Previews are written\na few times per run.")
            self.preview_info.setText("")
            self._preview_midi = None
            self._stop_player()
        else:
            self.preview_label.setText("")
            self._fit_preview()
        self._update_transport()

    def _fit_preview(self) -> None:
        pm = self._preview_pixmap
        if pm is None or pm.isNull():
            return
        w = self.preview_label.width() - 4
        if w < 10:
            return
        # the label is as tall as the picture at its width (at most MAX_PREVIEW_H)
        h = min(MAX_PREVIEW_H, max(40, round(w * pm.height() / max(1, pm.width()))))
        scaled = pm.scaled(
            QSize(w, h),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview_label.setFixedHeight(scaled.height() + 4)
        self.preview_label.setPixmap(scaled)

    def preview_step(self) -> int:
        return self._preview_step

    def preview_pixmap(self) -> QPixmap | None:
        return self._preview_pixmap

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._preview_pixmap is not None:
            QTimer.singleShot(0, self._fit_preview)

    # ====================================================================== audio

    def player(self) -> Player:
        if self._player is None:
            from genstudio.generators.music.playback import Player

            self._player = Player(on_finished=self._player_finished.emit)
        return self._player

    def is_playing(self) -> bool:
        from genstudio.generators.music.playback import PlayerState

        return self._player is not None and self._player.state == PlayerState.PLAYING

    def play_preview(self) -> None:
        midi = self._preview_midi
        if not midi:
            return
        if self._audio_key == midi:
            self.player().play()
            self._update_transport()
            return
        self._play_when_loaded = True
        self.audio_note.setText("rendering audio\u2026")
        self._spawn("audio", _render_preview, self.player(), midi)

    def stop_preview(self) -> None:
        self._play_when_loaded = False
        if self._player is not None:
            self._player.stop()
        self._update_transport()

    def _stop_player(self) -> None:
        self._play_when_loaded = False
        self._audio_key = ""
        if self._player is not None:
            self._player.stop()

    def _update_transport(self) -> None:
        if not hasattr(self, "play_button"):
            return
        has = bool(self._preview_midi)
        self.play_button.setEnabled(has and not self.is_playing())
        self.stop_button.setEnabled(has and self.is_playing())

    # ====================================================================== workers

    def _spawn(self, kind: str, fn, *args) -> int:
        """Run ``fn(*args)`` on a worker thread; the result comes back to :meth:`_on_bg_done`
        (stale results of an older call of the same kind are dropped)."""
        token = self._tokens.get(kind, 0) + 1
        self._tokens[kind] = token
        emit = self._bg_done.emit

        def work() -> None:
            result, error = None, None
            try:
                result = fn(*args)
            except GenStudioError as e:
                error = e.user_message()
            except Exception as e:  # a worker must report, not die silently
                log.exception("train panel: %s failed", kind)
                error = f"{type(e).__name__}: {e}"
            try:
                emit(kind, token, result, error)
            except RuntimeError:  # the panel is gone
                pass

        self._threads = [t for t in self._threads if t.is_alive()]
        t = threading.Thread(target=work, name=f"genstudio-train-{kind}", daemon=True)
        self._threads.append(t)
        t.start()
        return token

    def _on_bg_done(self, kind: str, token: int, result: object, error: object) -> None:
        if self._closed or token != self._tokens.get(kind):
            return
        if kind == "scan":
            self._scanning = False
            if error:
                from genstudio.generators.music.dataset import DataReport

                rep = DataReport(problems=[str(error)])
                self._report, self._report_sources = rep, list(self._sources)
                self._report_view = ("", f"Your material could not be read: {error}", [])
            else:
                sources, rep, view = result  # type: ignore[misc]
                self._report, self._report_sources = rep, list(sources)
                self._report_view = view
            self._show_report_state()
            self.report_ready.emit()
        elif kind == "runs":
            self._runs_loading = False
            if error:
                log.warning("training runs not readable: %s", error)
            self._fill_runs(list(result or []))  # type: ignore[call-overload]
            self.runs_loaded.emit()
        elif kind == "log":
            if error or result is None:
                return
            tail, (loss, evals, preview) = result  # type: ignore[misc]
            if tail is not self._tail:
                return
            self._tail_ready = True
            self.loss_plot.merge_points(loss, evals)
            if preview is not None:
                self._offer_preview(*preview)
            self.poll()
        elif kind == "preview":
            if error or result is None:
                log.info("preview not shown: %s", error)
                return
            image, step = result  # type: ignore[misc]
            if step != self._preview_step:
                return
            self._set_preview(QPixmap.fromImage(image))
            self.preview_shown.emit(step)
        elif kind == "audio":
            self._on_audio(result, error)

    def _on_audio(self, result: object, error: object) -> None:
        self.audio_note.setText("")
        if error or result is None:
            self.ctx.show_message(f"The preview could not be played: {error}", "error")
            self._play_when_loaded = False
            return
        midi, audio, sr, note = result  # type: ignore[misc]
        if midi != self._preview_midi:
            return
        player = self.player()
        try:
            player.load(audio, sr)
        except GenStudioError as e:
            self.ctx.show_message(f"The preview could not be played: {e.user_message()}", "error")
            return
        self._audio_key = midi
        notes = [m for m in (player.message if player.has_device is False else "", note) if m]
        self.audio_note.setText(" ".join(notes))
        self.audio_note.setToolTip(" ".join(notes))
        self.audio_loaded.emit()
        if self._play_when_loaded:
            self._play_when_loaded = False
            player.play()
        self._update_transport()

    # ====================================================================== project

    def _on_project_changed(self, project: Project | None) -> None:
        self._timer.stop()
        self._stop_player()
        self._run = None
        self._tail = None
        self._job_id = None
        self._paused = False
        self._runs = {}
        self.runs_list.clear()
        self.loss_plot.clear()
        self._preview_step = -1
        self._set_preview(None)
        self.status_label.setText("")
        self.hardware_label.setText("")
        self.training_title.setText("Training")
        self.conflict_bar.hide()
        for job in self._train_jobs():
            if self._adopt(job.id):
                break
        self.refresh_runs()
        self._update_buttons()

    # ====================================================================== ModePanel hooks

    def accepts_drop(self, path: Path) -> bool:
        return path.is_dir() or state.is_midi_path(path)

    def handle_drop(self, path: Path) -> None:
        self.add_sources([path])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_sources(paths)

    def activated(self) -> None:
        if self.ctx.project is not None:
            self.refresh_runs()  # an older read still going is dropped

    def shutdown(self) -> None:
        self._closed = True
        self._timer.stop()
        if self._player is not None:
            self._player.close()
            join = getattr(self._player.backend, "join", None)
            if callable(join):
                join(2.0)
        for t in self._threads:
            t.join(30.0)
        self._threads = []


# ========================================================================== worker functions


def _scan_sources(sources: list[str]) -> tuple[list[str], DataReport, tuple]:
    """The data report of ``sources`` and what the panel shows of it (summary, problem, rows)."""
    from genstudio.generators.music import dataset

    _scores, report = dataset.scan(sources)
    summary, problem = state.report_words(report, sources)
    return sources, report, (summary, problem, state.report_rows(report, sources))


def _read_whole_log(tail: state.LogTail, _run: Path) -> tuple[state.LogTail, tuple]:
    """Everything the log holds now, folded into the plot's points and the last preview (the
    poll goes on from where this stopped)."""
    rows: list[dict] = []
    while True:
        before = tail.offset
        rows.extend(tail.read())
        if tail.offset == before:
            return tail, state.fold_log(rows)


def _load_preview(path: str, step: int):
    from genstudio.ui.imagefile import load_image

    loaded, why = load_image(path, max_side=1600)
    if loaded is None:
        raise GenStudioError(why)
    return loaded.image, step


def _render_preview(player: Player, path: str):
    from genstudio.generators.music import midi
    from genstudio.generators.music.soundfont import render_audio

    player.probe()  # choose the output off the GUI thread (PortAudio may be slow)
    score = midi.read_midi(path)
    r = render_audio(score, soundfont="auto", normalize=True)
    return path, r.audio, int(r.sample_rate), r.message or ""
