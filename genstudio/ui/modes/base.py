"""The base classes of the mode panels (Sprites, Images, Music, Gallery) and the small widgets
their controls columns share."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPalette, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.core.jobs import EventType
from genstudio.ui import icons
from genstudio.ui.modes.seeds import random_seed

if TYPE_CHECKING:
    from collections.abc import Callable

    from genstudio.core.assets import AssetRecord
    from genstudio.core.jobs import Job, JobEvent
    from genstudio.core.project import Project
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)

#: item data role of a results list's asset id (Images and Music)
AssetRole = Qt.ItemDataRole.UserRole + 1
#: job states after which a batch is over
FINAL_STATES = ("done", "failed", "cancelled", "set_aside")


# ========================================================================== small shared widgets


def muted_label(text: str = "") -> QLabel:
    """A secondary-text label (styled by the theme's ``#Muted`` rule)."""
    lab = QLabel(text)
    lab.setObjectName("Muted")
    return lab


def info_label() -> QLabel:
    """A muted line of facts beside a title: selectable, and never widening its row."""
    label = muted_label()
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def clear_button(tooltip: str, on_click) -> QToolButton:
    """The small flat "x" that forgets a chosen file (init image, clips, palette)."""
    button = QToolButton()
    button.setIcon(icons.icon("cancel", 14))
    button.setAutoRaise(True)
    button.setToolTip(tooltip)
    button.clicked.connect(on_click)
    return button


def section_title(title: str) -> QLabel:
    """A section heading of a controls column or card (the theme's ``#SectionTitle``)."""
    lab = QLabel(title)
    lab.setObjectName("SectionTitle")
    return lab


def field_label(text: str) -> QLabel:
    """The name in front of a control (the theme's ``#FieldName``)."""
    lab = QLabel(text)
    lab.setObjectName("FieldName")
    return lab


class Card(QFrame):
    """A quiet panel with the theme's base colour and a 1-px border (follows the palette)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)


class ModelBanner(QFrame):
    """Says why a model pack cannot run (styled like the window's message bar), with a
    "Check again" button; hidden while there is no problem."""

    def __init__(self, check_tooltip: str, on_check: Callable[[], None]) -> None:
        super().__init__()
        self.setObjectName("MessageBar")
        self.setProperty("level", "warning")
        bl = QHBoxLayout(self)
        bl.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bl.addWidget(self.label, 1)
        again = QPushButton("Check again")
        again.setToolTip(check_tooltip)
        again.clicked.connect(on_check)
        bl.addWidget(again, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_problem(self, problem: str | None) -> None:
        self.label.setText(problem or "")
        self.setVisible(bool(problem))


SEED_LOCKED_TIP = "Seed kept: every Generate uses this seed (click for a new seed each time)"
SEED_UNLOCKED_TIP = "A new random seed on every Generate (click to keep this seed)"


def seed_row(
    tooltip: str, digits: int, dice_icon: QIcon, on_dice: Callable[[], Any]
) -> tuple[QHBoxLayout, QLineEdit, QToolButton]:
    """The seed field (``digits`` digits at most), its dice button and its lock, in a row.

    The lock (the field's ``lock`` attribute, a checkable button) says whether Generate keeps
    the seed: unlocked, every Generate draws a new one (the A1111/Fooocus convention, so
    pressing Generate again never repeats a batch); typing or reusing a seed locks it."""
    row = QHBoxLayout()
    row.setSpacing(4)
    seed = QLineEdit()
    seed.setToolTip(tooltip)
    seed.setMaxLength(digits)
    seed.setValidator(QRegularExpressionValidator(rf"\d{{0,{digits}}}", seed))
    dice = QToolButton()
    dice.setIcon(dice_icon)
    dice.setIconSize(QSize(18, 18))
    dice.setToolTip("New random seed")
    dice.clicked.connect(on_dice)
    lock = QToolButton()
    lock.setObjectName("SeedLock")
    lock.setCheckable(True)
    lock.setIconSize(QSize(18, 18))

    def show_lock(locked: bool) -> None:
        lock.setIcon(icons.icon("lock" if locked else "unlock", 18))
        lock.setToolTip(SEED_LOCKED_TIP if locked else SEED_UNLOCKED_TIP)
        lock.setAccessibleName("Keep this seed")

    lock.toggled.connect(show_lock)
    show_lock(False)
    seed.lock = lock  # type: ignore[attr-defined]
    row.addWidget(seed, 1)
    row.addWidget(dice)
    row.addWidget(lock)
    return row, seed, dice


def batch_progress(width: int) -> QProgressBar:
    """A batch's thin progress bar (0..1000, no text), hidden until a batch runs."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setFixedWidth(width)
    bar.setTextVisible(False)
    bar.hide()
    return bar


def titled_card(
    title: str | QLabel, *, margins: tuple[int, int, int, int] = (12, 10, 12, 10), spacing: int = 6
) -> tuple[Card, QVBoxLayout, QHBoxLayout]:
    """A card of a mode's right side: its layout and its header row, which starts with the
    section title (add the header's other widgets to the returned row)."""
    card = Card()
    lay = QVBoxLayout(card)
    lay.setContentsMargins(*margins)
    lay.setSpacing(spacing)
    hdr = QHBoxLayout()
    hdr.addWidget(title if isinstance(title, QLabel) else section_title(title))
    lay.addLayout(hdr)
    return card, lay, hdr


def batch_status(hdr: QHBoxLayout, progress_width: int) -> tuple[QLabel, QProgressBar]:
    """A batch's info text and progress bar at the end of a card's header row."""
    info = muted_label()
    hdr.addWidget(info)
    hdr.addStretch(1)
    bar = batch_progress(progress_width)
    hdr.addWidget(bar)
    return info, bar


def finish_controls(lay: QBoxLayout, binder: Any, on_generate, tooltip: str) -> QPushButton:
    """The end of a mode's controls column: "More settings" (a control for every field of the
    params that the panel did not place - a new parameter shows up here), then the Generate
    button at the bottom."""
    more = binder.rest()
    if more is not None:
        lay.addSpacing(6)
        lay.addWidget(section_title("More settings"))
        lay.addWidget(more)
    lay.addStretch(1)
    return add_generate_button(lay, on_generate, tooltip)


def count_and_seed(
    binder: Any, grid: Any, row: int, dice_icon: Any, on_dice
) -> tuple[Any, QLineEdit, QToolButton]:
    """The batch rows every mode has: the count and the seed with its dice, bound to the
    params' ``count`` and ``seed`` fields."""
    count = binder.spin("count")
    grid.addWidget(binder.label("count"), row, 0)
    grid.addWidget(count, row, 1)
    srow, seed, dice = seed_row(binder.info("seed").spec.help, 19, dice_icon, on_dice)
    binder.seed("seed", seed)
    grid.addWidget(binder.label("seed"), row + 1, 0)
    grid.addLayout(srow, row + 1, 1)
    return count, seed, dice


def controls_body(name: str) -> tuple[QWidget, QVBoxLayout]:
    """The body of a mode's controls column (put it in :func:`controls_scroll`) and its layout."""
    body = QWidget()
    body.setObjectName(name)
    lay = QVBoxLayout(body)
    lay.setContentsMargins(14, 12, 14, 12)
    lay.setSpacing(6)
    return body, lay


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


def mode_layout(
    panel: QWidget,
    controls: QWidget,
    top: QWidget,
    bottom: QWidget,
    stretch: tuple[int, int],
    sizes: list[int],
    banner: QWidget | None = None,
) -> QSplitter:
    """A mode panel's layout: the controls column on the left; on the right an optional banner
    above a vertical splitter of ``top`` and ``bottom``. Returns the splitter."""
    root = QHBoxLayout(panel)
    root.setContentsMargins(0, 0, 0, 0)
    root.setSpacing(0)
    root.addWidget(controls)
    right = QWidget()
    rl = QVBoxLayout(right)
    rl.setContentsMargins(10, 10, 10, 10)
    rl.setSpacing(8)
    if banner is not None:
        rl.addWidget(banner)
    split = QSplitter(Qt.Orientation.Vertical)
    split.setChildrenCollapsible(False)
    split.addWidget(top)
    split.addWidget(bottom)
    split.setStretchFactor(0, stretch[0])
    split.setStretchFactor(1, stretch[1])
    split.setSizes(sizes)
    rl.addWidget(split, 1)
    root.addWidget(right, 1)
    return split


def item_ids(view: QListWidget, role: int = AssetRole) -> list[str]:
    """The asset ids of a list's items, in list order."""
    return [view.item(i).data(role) for i in range(view.count())]


def select_item(view: QListWidget, asset_id: str, role: int = AssetRole) -> None:
    """Make the item of ``asset_id`` current (nothing when it is not listed)."""
    for i in range(view.count()):
        if view.item(i).data(role) == asset_id:
            view.setCurrentRow(i)
            return


# ========================================================================== panels


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


class GeneratingPanel(ModePanel):
    """A mode panel that submits batches of generations and follows its own jobs' events.

    Subclasses build ``progress`` (:func:`batch_progress`), ``batch_info`` (a label) and
    ``seed`` (:func:`seed_row`), implement :meth:`_on_job_event` and
    :meth:`_on_project_changed`, call :meth:`follow_jobs` once built and :meth:`unfollow_jobs`
    from :meth:`shutdown`.
    """

    progress: QProgressBar
    batch_info: QLabel
    seed: QLineEdit
    _rolling = False  # roll_seed is setting the field (watch_seed leaves the lock alone)
    #: said when Generate is pressed without an open project
    no_project_message = "Open or create a project first: results are saved in it."

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._my_jobs: set[str] = set()
        self._batch_job: str | None = None
        self._batch_total = 0

    def follow_jobs(self) -> None:
        self.ctx.jobs.job_event.connect(self._on_job_event)
        self.ctx.jobs.jobs_reset.connect(self._on_jobs_reset)
        self.ctx.project_changed.connect(self._on_project_changed)

    def unfollow_jobs(self) -> None:
        for sig, slot in (
            (self.ctx.jobs.job_event, self._on_job_event),
            (self.ctx.jobs.jobs_reset, self._on_jobs_reset),
            (self.ctx.project_changed, self._on_project_changed),
        ):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def _on_job_event(self, event: JobEvent) -> None:
        raise NotImplementedError

    def _on_project_changed(self, _project: Project | None) -> None:
        raise NotImplementedError

    def _on_jobs_reset(self) -> None:
        self._my_jobs.clear()
        self._batch_job = None
        self.progress.hide()

    def need_project(self) -> bool:
        """True (and a message) when no project is open to save the results in."""
        if self.ctx.project is None:
            self.ctx.show_message(self.no_project_message)
            return True
        return False

    def roll_seed(self) -> int:
        """A new random seed in the field (the lock stays as it is)."""
        seed = random_seed()
        self._rolling = True  # not a seed the user chose: the lock stays as it is
        try:
            self.seed.setText(str(seed))
        finally:
            self._rolling = False
        return seed

    def seed_locked(self) -> bool:
        lock = getattr(self.seed, "lock", None)
        return bool(lock is not None and lock.isChecked())

    def lock_seed(self, locked: bool = True) -> None:
        lock = getattr(self.seed, "lock", None)
        if lock is not None:
            lock.setChecked(locked)

    def fresh_seed(self) -> None:
        """Before a Generate: a new seed unless the seed is locked (never the same batch twice
        by accident); the field shows the seed the batch uses."""
        if not self.seed_locked():
            self.roll_seed()

    def watch_seed(self) -> None:
        """Lock the seed whenever its text is set other than by a roll (typed, reused, set by
        a test or a tool); start unlocked. Call once the panel's defaults are applied."""
        lock = getattr(self.seed, "lock", None)
        if lock is None:
            return
        self.seed.textChanged.connect(lambda _t: None if self._rolling else lock.setChecked(True))
        lock.setChecked(False)

    def start_batch(self, job: Job, count: int) -> None:
        """Follow a submitted batch: its events update the progress bar and ``batch_info``."""
        self._my_jobs.add(job.id)
        self._batch_job = job.id
        self._batch_total = count
        self.progress.setValue(0)
        self.progress.show()
        self.batch_info.setText(f"generating {count}\u2026")

    def report_batch_end(self, job_id: str, st: str, n: int, what: str) -> str:
        """Say in ``batch_info`` how a batch ended (``n`` made), and a failure in the message
        bar (``what`` generation failed); returns the job's error text ("" when done)."""
        if st == "done":
            self.batch_info.setText(f"{n} new \u2022 saved in the gallery")
            return ""
        try:
            err = self.ctx.jobs.get(job_id).error or st
        except Exception:
            err = st
        self.batch_info.setText(f"{st}: {n} made")
        if st == "failed":
            self.ctx.show_message(f"{what} generation failed: {err}", "error")
        return err

    def gallery_record(self, asset_id: str, what: str) -> AssetRecord | None:
        """An emitted asset's record from the open project's gallery (None without a project;
        a record that cannot be read is logged as ``what``)."""
        project = self.ctx.project
        if project is None:
            return None
        try:
            return project.gallery.get(asset_id)
        except GenStudioError as e:
            logging.getLogger(type(self).__module__).warning(
                "%s %s not readable from the gallery: %s", what, asset_id, e
            )
            return None


class ResultsPanel(GeneratingPanel):
    """A generating panel whose results are listed newest first in ``results`` (items carry
    their asset id in :data:`AssetRole`; ``_results`` maps it to the subclass's result object,
    which has a ``job_id``), shown one at a time by :meth:`_show`, and whose model pack can be
    missing (a :class:`ModelBanner` says why).

    Subclasses declare the ``result_added = Signal(str)`` signal and set :attr:`max_results`.
    """

    #: results kept in the list (the oldest beyond it are dropped from the list, not the gallery)
    max_results = 50
    #: what the model pack is for, in log lines ("image", "music")
    pack_kind = "model"
    results: QListWidget
    banner: ModelBanner
    generate_button: QPushButton

    def lay_out(
        self, build_top: Callable[[], QWidget], *, stretch: tuple[int, int], sizes: list[int],
        refresh_tip: str,
    ) -> None:
        """Build the panel: the controls column (``_build_controls``), and on the right the
        model banner (``refresh_tip`` on its button, which calls ``refresh_model_state``) above
        ``build_top()`` and the results list (``_build_results``) in a splitter."""
        self.banner = ModelBanner(refresh_tip, self.refresh_model_state)  # type: ignore[attr-defined]
        self.banner_text = self.banner.label
        self.splitter = mode_layout(
            self,
            self._build_controls(),  # type: ignore[attr-defined]
            build_top(),
            self._build_results(),  # type: ignore[attr-defined]
            stretch=stretch,
            sizes=sizes,
            banner=self.banner,
        )

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._batch_first: str | None = None
        self._results: dict[str, Any] = {}
        self._current: Any = None
        self._model_problem: str | None = None
        self._closed = False

    # --- the results list -------------------------------------------------------------------

    def _show(self, r: Any) -> None:
        raise NotImplementedError

    def result_ids(self) -> list[str]:
        """Results in list order (newest first)."""
        return item_ids(self.results)

    def result(self, asset_id: str) -> Any:
        return self._results.get(asset_id)

    def current_result(self) -> Any:
        return self._current

    def select_result(self, asset_id: str) -> None:
        select_item(self.results, asset_id)

    def _current_item_changed(self, item: QListWidgetItem | None, _prev=None) -> None:
        r = self._results.get(item.data(AssetRole)) if item is not None else None
        if r is not None:
            self._show(r)

    def made_by(self, job_id: str) -> int:
        """How many listed results the job made."""
        return sum(1 for r in self._results.values() if r.job_id == job_id)

    def start_batch(self, job: Job, count: int) -> None:
        self._batch_first = None
        super().start_batch(job, count)

    def checked_settings(self) -> Any:
        """The controls' settings (``current_settings()``), checked; None, with a message, when
        no project is open or the settings are refused."""
        if self.need_project():
            return None
        try:
            s = self.current_settings()  # type: ignore[attr-defined]
            s.check()
        except InvalidParamsError as e:
            self.ctx.show_message(e.user_message(), "error")
            return None
        return s

    # --- job events -------------------------------------------------------------------------

    def _on_job_event(self, event: JobEvent) -> None:
        if event.job_id not in self._my_jobs:
            return
        if event.type == EventType.ASSET and event.asset_id:
            self._add_asset(event.asset_id, event.job_id)
        elif event.type == EventType.PROGRESS and event.job_id == self._batch_job:
            self.progress.setValue(int(event.fraction * 1000))
            self._on_batch_progress(event)
        elif event.type == EventType.STATE and event.state is not None:
            if event.state.value in FINAL_STATES:
                self._on_job_over(event.job_id, event.state.value)

    def _add_asset(self, asset_id: str, job_id: str) -> None:
        raise NotImplementedError

    def _on_batch_progress(self, event: JobEvent) -> None:
        """A progress event of the running batch (the bar has moved already)."""

    def _on_job_over(self, job_id: str, st: str) -> None:
        """One of this panel's jobs reached the final state ``st``."""
        raise NotImplementedError

    def _select_first_of_batch(self, item: QListWidgetItem) -> None:
        self.results.setCurrentItem(item)

    def add_result_item(self, item: QListWidgetItem, asset_id: str, job_id: str) -> None:
        """List a new result first (its object is in ``_results`` already): drop the oldest
        beyond :attr:`max_results`, select the first of the running batch, count the batch."""
        item.setData(AssetRole, asset_id)
        self.results.insertItem(0, item)
        while self.results.count() > self.max_results:
            old = self.results.takeItem(self.results.count() - 1)
            if old is not None:
                self._results.pop(old.data(AssetRole), None)
        if job_id == self._batch_job and self._batch_first is None:
            self._batch_first = asset_id
            self._select_first_of_batch(item)
        if self.progress.isVisible():
            self.batch_info.setText(f"{self.made_by(job_id)} of {self._batch_total}")
        self.result_added.emit(asset_id)  # type: ignore[attr-defined]

    def clear_results(self) -> None:
        self._results.clear()
        self.results.blockSignals(True)
        self.results.clear()
        self.results.blockSignals(False)
        self._current = None

    # --- the model pack ---------------------------------------------------------------------

    def _probe_model_pack(self) -> str | None:
        """Why the model pack cannot run, or None."""
        raise NotImplementedError

    def _generation_blocked(self) -> str | None:
        """The Generate button's tooltip while it is off, or None when it is on."""
        raise NotImplementedError

    def refresh_model_state(self) -> None:
        """Look for the model pack; show why it cannot run when it is missing."""
        try:
            self._model_problem = self._probe_model_pack()
        except Exception as e:  # never let a probe break the panel
            logging.getLogger(type(self).__module__).warning(
                "%s model pack check failed: %s", self.pack_kind, e
            )
            self._model_problem = None
        self.banner.show_problem(self._model_problem)
        self._update_generate_button()

    def model_problem(self) -> str | None:
        return self._model_problem

    def model_pack_refused(self) -> bool:
        """Look for the model pack again; True (and the reason) when it cannot run."""
        self.refresh_model_state()
        if self._model_problem:
            self.ctx.show_message(self._model_problem, "error")
            return True
        return False

    def _update_generate_button(self) -> None:
        if not hasattr(self, "generate_button"):
            return
        blocked = self._generation_blocked()
        self.generate_button.setEnabled(not blocked)
        self.generate_button.setToolTip(blocked or "Generate (Ctrl+Enter)")
