"""The Music mode: pick a mode and the music's settings, generate, see and hear the result.

Controls on the left edit a :class:`state.MusicSettings`; *Generate* (Ctrl+Enter) submits a
``music.gpt`` job through the job bridge. Its MIDI (and rendered WAV) results arrive as gallery
assets; the panel follows its own jobs' events, lists the results (newest first) and shows the
selected one in the :class:`~genstudio.ui.modes.music.pianoroll.PianoRoll`.

Nothing here blocks the GUI thread: generation runs on the runner's worker; the WAV is read (or,
when a result has none, rendered from the MIDI) on a short-lived worker thread and handed back
through a queued signal; the :class:`~genstudio.generators.music.playback.Player` plays on its
own audio thread and a 30 fps QTimer (running only while playing) moves the playhead.

MIDI clips for Continue / Variations / Interpolate / Drums come from a drop on the piano roll
(or on the window) or from *Choose MIDI...*; a clip dropped in Generate mode switches to Continue.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.core.jobs import EventType
from genstudio.generators.music.generator import MusicParams
from genstudio.ui import icons
from genstudio.ui.modes.base import (
    ResultsPanel,
    batch_status,
    clear_button,
    controls_body,
    controls_scroll,
    count_and_seed,
    finish_controls,
    info_label,
    muted_label,
    section_title,
    titled_card,
)
from genstudio.ui.modes.binding import Binder
from genstudio.ui.modes.music import state
from genstudio.ui.modes.music.pianoroll import PianoRoll
from genstudio.ui.modes.widgets import DICE_SVG, PAUSE_SVG, PLAY_SVG, register_icons

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.project import Project
    from genstudio.generators.music.playback import Player
    from genstudio.generators.music.score import Score
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
PLAYHEAD_MS = 33  # ~30 fps
#: item data role of a style entry's model pack id ("" = the built-in model)
MODEL_ROLE = Qt.ItemDataRole.UserRole + 7

# Extra line icons in the house style (24x24 viewBox, stroked), added once to the icon table.
_EXTRA_SVG = {
    "play": PLAY_SVG,
    "pause": PAUSE_SVG,
    "stop": '<rect x="6" y="6" width="12" height="12" rx="1.5"/>',
    "loop": '<path d="M4 11V9a3 3 0 0 1 3-3h12M16 3l3 3-3 3M20 13v2a3 3 0 0 1-3 3H5M8 21l-3-3 3-3"/>',
    "dice": DICE_SVG,
    "midi": (
        '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M8 5v8M12 5v8M16 5v8"/>'
        '<path d="M6.5 13h3M10.5 13h3M14.5 13h3" stroke-width="0"/>'
    ),
    "drag": '<path d="M12 3v12M7 10l5 5 5-5"/><path d="M4 17v3h16v-3"/>',
}
icon = register_icons("music", _EXTRA_SVG)


_STYLE = """
QToolButton#MusicMode {
    padding: 5px 4px; border: 1px solid palette(mid); border-radius: 5px;
    background: palette(base);
}
QToolButton#MusicMode:hover { border-color: palette(highlight); }
QToolButton#MusicMode:checked {
    background: palette(highlight); color: palette(highlighted-text);
    border-color: palette(highlight); font-weight: 600;
}
QToolButton#Transport { padding: 3px; border-radius: 4px; }
QToolButton#Transport:checked { background: palette(midlight); border: 1px solid palette(mid); }
QLabel#ClipList { padding: 6px 8px; border: 1px dashed palette(mid); border-radius: 5px; }
"""


def _grid(*stretch: int) -> QGridLayout:
    """A form grid of the controls column: labels, then the columns ``stretch`` share."""
    g = QGridLayout()
    g.setHorizontalSpacing(8)
    g.setVerticalSpacing(6)
    for col in stretch:
        g.setColumnStretch(col, 1)
    return g


class _DragHandle(QToolButton):
    """A button that starts the piano roll's drag-out when dragged (a click says how)."""

    def __init__(self, roll: PianoRoll, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.roll = roll
        self._press = None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if (
            self._press is not None
            and event.buttons() & Qt.MouseButton.LeftButton
            and (event.position().toPoint() - self._press).manhattanLength()
            >= QApplication.startDragDistance()
        ):
            self._press = None
            self.setDown(False)
            self.roll.start_drag()
            return
        super().mouseMoveEvent(event)


@dataclass
class Result:
    """One generated piece in the results list."""

    asset_id: str
    record: AssetRecord
    score: Score
    path: Path
    job_id: str | None = None
    audio_id: str | None = None
    audio_pending: bool = False  # the job will still emit its WAV

    @property
    def clip_bars(self) -> int:
        """Bars at the start that are the user's clip (continue / interpolate)."""
        if self.record.params.get("mode") in ("continue", "interpolate"):
            v = self.record.extra.get("input_bars")
            return int(v) if isinstance(v, int) and not isinstance(v, bool) else 0
        return 0


@dataclass
class Clip:
    path: Path
    score: Score


class MusicPanel(ResultsPanel):
    """Mode + music settings -> results -> piano roll + playback; MIDI clips in, files out."""

    #: a result was added to the list (its MIDI asset id)
    result_added = Signal(str)
    #: audio is loaded into the player (asset id of the MIDI it belongs to, or a clip path)
    audio_loaded = Signal(str)
    #: the input clips changed
    clips_changed = Signal()
    #: the shown mode changed (mode id)
    mode_changed = Signal(str)

    #: the style list was read again (built-in styles + fine-tuned packs' styles)
    styles_loaded = Signal()

    _audio_ready = Signal(int, object, int, str, str)  # token, audio, sr, note, error
    _player_finished = Signal()
    _styles_ready = Signal(int, object, str)  # token, [StyleChoice], error

    max_results = state.MAX_RESULTS
    no_project_message = "Open or create a project first: music is saved in it."
    pack_kind = "music"
    _results: dict[str, Result]
    _current: Result | None

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._clips: list[Clip] = []
        self._shown_key = ""  # what the roll shows: a result's asset id or a clip's path
        self._loaded_key = ""  # whose audio the player holds
        self._audio_token = 0
        self._audio_threads: list[threading.Thread] = []
        self._play_when_loaded = False
        self._device_note = ""  # why playback is silent (no sound card), shown once known
        self._player: Player | None = None
        self._mode = "generate"
        self._pack_styles: list[state.StyleChoice] = []
        self._styles_token = 0
        self._styles_loading = False
        self._style_threads: list[threading.Thread] = []
        #: (style, model) asked for before the style list had it (reuse, "Use this model")
        self._wanted_style: tuple[str, str] | None = None
        self._wanted_keeps_top_p = True
        #: every MusicParams field <-> its control (range, label, tooltip from the spec)
        self.binder = Binder(MusicParams)

        self.lay_out(
            self._build_roll,
            stretch=(3, 1),
            sizes=[600, 170],
            refresh_tip="Look for the music model pack again (after training or installing it)",
        )

        self._timer = QTimer(self)
        self._timer.setInterval(PLAYHEAD_MS)
        self._timer.timeout.connect(self._tick)
        self._audio_ready.connect(self._on_audio_ready, Qt.ConnectionType.QueuedConnection)
        self._player_finished.connect(self._tick, Qt.ConnectionType.QueuedConnection)
        self._styles_ready.connect(self._on_styles_ready, Qt.ConnectionType.QueuedConnection)

        self.follow_jobs()
        self.ctx.jobs.job_event.connect(self._on_any_job_event)
        self.setStyleSheet(_STYLE)
        self.apply_to_controls(state.MusicSettings(seed=state.random_seed()))
        self.watch_seed()  # a fresh seed per Generate until one is chosen
        self.refresh_model_state()
        self._update_transport()
        self.refresh_styles()

    # ====================================================================== controls (left)

    def _build_controls(self) -> QWidget:
        body, lay = controls_body("MusicControls")

        lay.addWidget(section_title("Music"))
        self.mode_box = QWidget()
        grid = QGridLayout(self.mode_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.mode_buttons = QButtonGroup(self)
        self.mode_buttons.setExclusive(True)
        for i, mode in enumerate(state.MODES):
            btn = QToolButton()
            btn.setObjectName("MusicMode")
            btn.setText(state.MODE_LABELS[mode])
            btn.setCheckable(True)
            btn.setToolTip(state.MODE_TIPS[mode])
            btn.setProperty("mode", mode)
            btn.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            btn.clicked.connect(lambda _c=False, m=mode: self.set_mode(m))
            self.mode_buttons.addButton(btn)
            grid.addWidget(btn, i // 3, i % 3)
        self.binder.bind("mode", self.mode_box, self.mode)  # set_mode: last in apply_to_controls
        lay.addWidget(self.mode_box)
        self.mode_tip = muted_label()
        self.mode_tip.setWordWrap(True)
        self.mode_tip.setMinimumHeight(30)
        lay.addWidget(self.mode_tip)

        # --- clips
        lay.addSpacing(4)
        hdr = QHBoxLayout()
        self.clips_title = section_title("Clip")
        hdr.addWidget(self.clips_title)
        hdr.addStretch(1)
        self.choose_button = QPushButton("Choose MIDI\u2026")
        self.choose_button.setIcon(icon("midi"))
        self.choose_button.setToolTip("Pick .mid files to work from (or drop them on the roll)")
        self.choose_button.clicked.connect(self.choose_clips)
        self.clear_clips_button = clear_button("Forget the clips", self.clear_clips)
        hdr.addWidget(self.choose_button)
        hdr.addWidget(self.clear_clips_button)
        lay.addLayout(hdr)
        self.clip_label = QLabel()
        self.clip_label.setObjectName("ClipList")
        self.clip_label.setWordWrap(True)
        self.clip_label.setTextFormat(Qt.TextFormat.PlainText)
        self.binder.bind("inputs", self.clip_label, lambda: [str(c.path) for c in self._clips])
        lay.addWidget(self.clip_label)

        # --- the piece
        lay.addSpacing(6)
        lay.addWidget(section_title("Piece"))
        form = _grid(1, 2)
        row = 0

        self.style = QComboBox()
        for choice in state.builtin_styles():
            self.style.addItem(choice.label, choice.style)
        self.style.setToolTip(
            "What plays: the tracks and their instruments. Styles you trained in the Train "
            "mode ('My style: ...') are listed after the built-in ones."
        )
        self.style.currentIndexChanged.connect(self._style_changed)
        # one list sets two fields (a fine-tuned style's pack); select_style() sets both
        self.binder.bind("style", self.style, lambda: self.style_choice()[0])
        self.binder.bind("model", self.style, lambda: self.style_choice()[1])
        form.addWidget(self.binder.label("style"), row, 0)
        form.addWidget(self.style, row, 1, 1, 2)
        row += 1

        self.tonic = QComboBox()
        self.tonic.addItem("Any key", "")
        for t in state.TONICS:
            self.tonic.addItem(t, t)
        self.tonic.setToolTip("Key of the piece ('Any': the model chooses)")
        self.tonic.currentIndexChanged.connect(lambda _i: self._update_mode_ui())
        self.scale = QComboBox()
        for sc_name in state.SCALES:
            self.scale.addItem(sc_name, sc_name)
        self.binder.bind("key", self.tonic, self._key, self._set_key)
        self.key_label = self.binder.label("key")
        form.addWidget(self.key_label, row, 0)
        form.addWidget(self.tonic, row, 1)
        form.addWidget(self.scale, row, 2)
        row += 1

        self.key_lock = self.binder.check("key_lock", QCheckBox("Only notes of the key"))
        form.addWidget(self.key_lock, row, 1, 1, 2)
        row += 1

        self.tempo = self.binder.dspin("tempo", decimals=0, step=1.0)  # whole bpm
        self.time_signature = self.binder.combo(
            "time_signature", items=[(ts, ts) for ts in state.TIME_SIGNATURES]
        )
        self.tempo_label = self.binder.label("tempo")
        form.addWidget(self.tempo_label, row, 0)
        form.addWidget(self.tempo, row, 1)
        form.addWidget(self.time_signature, row, 2)
        row += 1

        self.bars = self.binder.spin("bars")
        self.bars_label = self.binder.label("bars")
        form.addWidget(self.bars_label, row, 0)
        form.addWidget(self.bars, row, 1)
        lay.addLayout(form)

        # --- sampling
        lay.addSpacing(6)
        lay.addWidget(section_title("Sampling"))
        sf = _grid(1, 3)
        self.temperature = self.binder.dspin("temperature")
        sf.addWidget(self.binder.label("temperature"), 0, 0)
        sf.addWidget(self.temperature, 0, 1)
        self.top_p = self.binder.dspin("top_p")
        sf.addWidget(self.binder.label("top_p"), 0, 2)
        sf.addWidget(self.top_p, 0, 3)
        self.top_k = self.binder.spin("top_k")
        sf.addWidget(self.binder.label("top_k"), 1, 0)
        sf.addWidget(self.top_k, 1, 1)
        self.strength_label = self.binder.label("strength")
        self.strength = self.binder.dspin("strength", step=0.1)
        sf.addWidget(self.strength_label, 1, 2)
        sf.addWidget(self.strength, 1, 3)
        lay.addLayout(sf)

        # --- batch
        lay.addSpacing(6)
        lay.addWidget(section_title("Batch"))
        b = _grid(1)
        self.count, self.seed, self.dice = count_and_seed(
            self.binder, b, 0, icon("dice"), self.roll_seed
        )
        self.audio = self.binder.check("audio", QCheckBox("Render audio (.wav) with each piece"))
        b.addWidget(self.audio, 2, 1)
        lay.addLayout(b)
        self.generate_button = finish_controls(lay, self.binder, self.generate, "Generate (Ctrl+Enter)")
        return controls_scroll(body, 340, "MusicControlsScroll")

    def _build_roll(self) -> QWidget:
        self.roll_title = section_title("Piano roll")
        card, lay, hdr = titled_card(self.roll_title, spacing=8)
        self.roll_info = info_label()
        hdr.addWidget(self.roll_info, 1)
        self.roll = PianoRoll()
        for text, tip, slot in (
            ("\u2212", "Zoom out (Ctrl+wheel)", self.roll.zoom_out),
            ("Fit", "Show the whole piece", self.roll.zoom_fit),
            ("+", "Zoom in (Ctrl+wheel)", self.roll.zoom_in),
        ):
            btn = QToolButton()
            btn.setText(text)
            btn.setToolTip(tip)
            btn.setAutoRaise(True)
            btn.setMinimumWidth(26)
            btn.clicked.connect(slot)
            hdr.addWidget(btn)

        self.roll.midi_dropped.connect(self._roll_dropped)
        self.roll.seek_requested.connect(self.seek)
        lay.addWidget(self.roll, 1)

        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.play_button = QToolButton()
        self.play_button.setObjectName("Transport")
        self.play_button.setIconSize(QSize(18, 18))
        self.play_button.clicked.connect(self.toggle_play)
        self.stop_button = QToolButton()
        self.stop_button.setObjectName("Transport")
        self.stop_button.setIcon(icon("stop", 18))
        self.stop_button.setIconSize(QSize(18, 18))
        self.stop_button.setToolTip("Stop and go back to the start")
        self.stop_button.clicked.connect(self.stop)
        self.loop_button = QToolButton()
        self.loop_button.setObjectName("Transport")
        self.loop_button.setCheckable(True)
        self.loop_button.setIcon(icon("loop", 18))
        self.loop_button.setIconSize(QSize(18, 18))
        self.loop_button.setToolTip("Loop the piece (from the first bar to the end of the last)")
        self.loop_button.toggled.connect(self.set_loop)
        bar.addWidget(self.play_button)
        bar.addWidget(self.stop_button)
        bar.addWidget(self.loop_button)
        bar.addSpacing(8)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setMinimumWidth(110)
        bar.addWidget(self.time_label)
        self.audio_state = muted_label()
        self.audio_state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.audio_state, 1)
        self.drag_button = _DragHandle(self.roll)
        self.drag_button.setIcon(icon("drag"))
        self.drag_button.setText("Drag .mid")
        self.drag_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.drag_button.setToolTip(
            "Drag this onto your DAW, file manager or game folder to copy the MIDI file "
            "(the piano roll can be dragged too)"
        )
        self.drag_button.setCursor(Qt.CursorShape.OpenHandCursor)
        bar.addWidget(self.drag_button)
        lay.addLayout(bar)
        # why playback is silent (no sound card) or which renderer was used: said in the panel
        self.audio_note = muted_label()
        self.audio_note.setWordWrap(True)
        self.audio_note.hide()
        lay.addWidget(self.audio_note)
        return card

    def _build_results(self) -> QWidget:
        card, lay, hdr = titled_card("Results")
        self.batch_info, self.progress = batch_status(hdr, 140)
        self.results = QListWidget()
        self.results.setObjectName("MusicResults")
        self.results.setFrameShape(QFrame.Shape.NoFrame)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setIconSize(QSize(18, 18))
        self.results.setAlternatingRowColors(True)
        self.results.currentItemChanged.connect(self._current_item_changed)
        lay.addWidget(self.results, 1)
        return card

    # ====================================================================== settings <-> controls

    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in state.MODES:
            raise InvalidParamsError(f"Unknown music mode {mode!r}.")
        self._mode = mode
        for btn in self.mode_buttons.buttons():
            btn.setChecked(btn.property("mode") == mode)
        self._update_mode_ui()
        self.mode_changed.emit(mode)

    def current_settings(self) -> state.MusicSettings:
        """The controls as settings; InvalidParamsError when the seed field is not a number."""
        return state.MusicSettings(**self.binder.values())

    def apply_to_controls(self, s: state.MusicSettings) -> None:
        self.select_style(s.style, s.model)  # first: a style brings its top-p and key lock
        self.binder.apply(s.to_params())  # the clips are the panel's own (apply_settings)
        self.set_mode(s.mode)

    def _key(self) -> str:
        return state.join_key(self.tonic.currentData() or "", self.scale.currentData())

    def _set_key(self, key: str) -> None:
        tonic, scale = state.split_key(key)
        self.tonic.setCurrentIndex(max(0, self.tonic.findData(tonic)))
        self.scale.setCurrentIndex(max(0, self.scale.findData(scale)))

    def _style_changed(self, _index: int) -> None:
        """A new style brings its own nucleus default (the user may still change it)."""
        self._wanted_style = None  # the user picked one
        if hasattr(self, "top_p"):
            self.top_p.setValue(state.style_top_p(self.style.currentData()))
        style, model = self.style_choice()
        for c in getattr(self, "_pack_styles", []):
            if (c.style, c.model) == (style, model) and c.key_lock is not None:
                # the style's material decides (a modal style with accidentals is not forced
                # into the scale); the user may still change it
                self.key_lock.setChecked(c.key_lock)

    # ====================================================================== the style list

    def style_choice(self) -> tuple[str, str]:
        """(style token, model pack id or "") of the selected style."""
        i = self.style.currentIndex()
        style = self.style.itemData(i)
        if not isinstance(style, str) or not style:
            return "folk", ""
        model = self.style.itemData(i, MODEL_ROLE)
        return style, model if isinstance(model, str) else ""

    def style_choices(self) -> list[tuple[str, str, str]]:
        """(style, model, label) of every entry of the style list, in list order."""
        out = []
        for i in range(self.style.count()):
            style = self.style.itemData(i)
            if isinstance(style, str) and style:
                model = self.style.itemData(i, MODEL_ROLE)
                out.append((style, model if isinstance(model, str) else "", self.style.itemText(i)))
        return out

    def _find_style(self, style: str, model: str) -> int:
        for i in range(self.style.count()):
            m = self.style.itemData(i, MODEL_ROLE)
            if self.style.itemData(i) == style and (m if isinstance(m, str) else "") == model:
                return i
        return -1

    def select_style(self, style: str, model: str = "", *, keep_top_p: bool = True) -> bool:
        """Select a style (of a fine-tuned pack when ``model`` is given). A pack's style the
        list does not have yet is selected as soon as the list has been read again (then the
        top-p stays as it is when ``keep_top_p``, as for reused settings); returns whether it
        is selected now."""
        i = self._find_style(style, model or "")
        if i >= 0:
            self.style.setCurrentIndex(i)
            self._wanted_style = None
            return True
        if model:
            self._wanted_style = (style, model)
            self._wanted_keeps_top_p = keep_top_p
            self.refresh_styles()
            return False
        self.style.setCurrentIndex(max(0, self.style.findData(style)))
        return True

    def apply_request(self, payload: dict) -> None:
        """Another mode asked for this one (Train's "Use this model": model + style)."""
        style, model = payload.get("style"), payload.get("model")
        if isinstance(style, str) and style:
            if self._mode == "drums":
                self.set_mode("generate")
            picked = self.select_style(
                style, model if isinstance(model, str) else "", keep_top_p=False
            )
            if picked:
                self.style.setFocus()

    def refresh_styles(self) -> None:
        """Read the fine-tuned packs' styles again on a worker thread (``styles_loaded``)."""
        if self._closed:
            return
        self._styles_token += 1
        token = self._styles_token
        self._styles_loading = True
        emit = self._styles_ready.emit

        def work() -> None:
            styles, error = [], ""
            try:
                styles = state.load_pack_styles()
            except Exception as e:  # a broken pack must not break the panel
                log.warning("fine-tuned music styles not listed: %s", e)
                error = str(e)
            try:
                emit(token, styles, error)
            except RuntimeError:  # the panel is gone
                pass

        self._style_threads = [t for t in self._style_threads if t.is_alive()]
        t = threading.Thread(target=work, name="genstudio-music-styles", daemon=True)
        self._style_threads.append(t)
        t.start()

    def styles_ready(self) -> bool:
        return not self._styles_loading

    def _on_styles_ready(self, token: int, styles: list, _error: str) -> None:
        if token != self._styles_token or self._closed:
            return
        self._styles_loading = False
        current = self.style_choice()
        self._pack_styles = [c for c in styles if isinstance(c, state.StyleChoice)]
        self.style.blockSignals(True)
        while self.style.count() > len(state.STYLES):
            self.style.removeItem(self.style.count() - 1)
        if self._pack_styles:
            self.style.insertSeparator(self.style.count())
        for c in self._pack_styles:
            self.style.addItem(c.label, c.style)
            i = self.style.count() - 1
            self.style.setItemData(i, c.model, MODEL_ROLE)
            self.style.setItemData(
                i, f"Fine-tuned model {c.model} ({c.source} models)", Qt.ItemDataRole.ToolTipRole
            )
        wanted = self._wanted_style
        i = self._find_style(*(wanted or current))
        self.style.setCurrentIndex(max(0, i))
        self.style.blockSignals(False)
        if wanted is not None:
            self._wanted_style = None
            if i < 0:
                self.ctx.show_message(
                    f"The music model {wanted[1]} is not in this project (any more); the "
                    f"built-in style '{self.style.currentText()}' is selected instead.",
                    "warning",
                )
        if self.style_choice() != current:
            if wanted is not None and i >= 0 and self._wanted_keeps_top_p:
                pass  # reused settings: their top-p stands
            else:
                self._style_changed(self.style.currentIndex())
        self.styles_loaded.emit()

    def _on_any_job_event(self, event) -> None:
        """A finished training job may have made a new style: list it."""
        if (
            event.type == EventType.STATE
            and event.state is not None
            and event.state.value == "done"
            and not self._closed
        ):
            try:
                gen = self.ctx.jobs.get(event.job_id).spec.generator
            except Exception:
                return
            if gen.startswith("train."):
                self.refresh_styles()

    def _update_mode_ui(self) -> None:
        mode = self._mode
        need = state.CLIPS_NEEDED.get(mode, 0)
        clip_mode = need > 0
        drums = mode == "drums"
        self.mode_tip.setText(state.MODE_TIPS[mode])
        for w in (self.style, self.temperature, self.top_p, self.top_k):
            w.setEnabled(not drums)
        keyed = mode not in ("continue", "drums")
        self.tonic.setEnabled(keyed)
        self.scale.setEnabled(keyed and bool(self.tonic.currentData()))
        self.key_lock.setEnabled(not drums)
        self.tonic.setItemText(0, "From the clip" if clip_mode else "Any key")
        from_clip = clip_mode  # tempo and metre come from the clip
        self.tempo.setEnabled(not from_clip)
        self.time_signature.setEnabled(not from_clip)
        tip = "Taken from the clip in this mode" if from_clip else ""
        for w in (self.tempo, self.time_signature):
            w.setStatusTip(tip)
        self.bars.setEnabled(mode not in ("variations", "drums"))
        self.bars_label.setText(
            {"continue": "New bars", "interpolate": "Bridge bars"}.get(mode, "Bars")
        )
        self.strength.setVisible(mode == "variations")
        self.strength_label.setVisible(mode == "variations")
        self.clips_title.setText("Clips A and B" if need == 2 else "Clip")
        self._update_clip_label()
        self._update_generate_button()

    # ====================================================================== clips

    def clips(self) -> list[Path]:
        return [c.path for c in self._clips]

    def choose_clips(self) -> None:
        start = str(self._clips[-1].path.parent) if self._clips else str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "MIDI clips", start, state.MIDI_FILTER)
        for p in paths[:2]:
            self.add_clip(p)

    def clear_clips(self) -> None:
        self._clips = []
        self._update_clip_label()
        self.clips_changed.emit()

    def add_clip(self, path: str | Path) -> bool:
        """Read a MIDI clip and use it as the input of the clip modes. A file that is not
        readable MIDI is an error message (the previous clips stay); returns success."""
        from genstudio.generators.music import midi

        p = Path(path)
        try:
            score = midi.read_midi(p)
        except GenStudioError as e:  # MidiFileError: not MIDI, truncated, too big...
            self.ctx.show_message(f"Cannot use {p.name}: {e.user_message()}", "error")
            return False
        except OSError as e:
            self.ctx.show_message(f"Cannot read {p.name}: {e.strerror or e}", "error")
            return False
        if not score.notes:
            self.ctx.show_message(f"{p.name} has no notes to work from.", "error")
            return False
        clip = Clip(p, score)
        if self._mode == "interpolate":
            self._clips = [c for c in self._clips if c.path != p][-1:] + [clip]
        else:
            self._clips = [clip]
        if self._mode in ("generate", "loop"):
            self.set_mode("continue")
        self._update_clip_label()
        self.clips_changed.emit()
        self._show_clip(clip)
        return True

    def _update_clip_label(self) -> None:
        need = state.CLIPS_NEEDED.get(self._mode, 0)
        if not self._clips:
            if need == 2:
                text = "Drop two .mid files on the piano roll: A, then B."
            elif need:
                text = "Drop a .mid file on the piano roll, or choose one."
            else:
                text = "Drop a .mid file on the piano roll to continue it."
        elif need == 2:
            a = self._clips[0]
            lines = [f"A: {state.describe_clip(a.path, a.score)}"]
            if len(self._clips) > 1:
                b = self._clips[1]
                lines.append(f"B: {state.describe_clip(b.path, b.score)}")
            else:
                lines.append("B: drop a second .mid file")
            text = "\n".join(lines)
        else:
            c = self._clips[0]
            text = state.describe_clip(c.path, c.score)
            if not need:
                text += "\n(for Continue, Variations, Interpolate and Drums)"
        self.clip_label.setText(text)
        self.clip_label.setToolTip("\n".join(str(c.path) for c in self._clips))
        self.clear_clips_button.setVisible(bool(self._clips))
        self._update_generate_button()

    def _roll_dropped(self, path: str) -> None:
        self.add_clip(path)

    # ====================================================================== hooks

    def generate(self) -> bool:
        self.fresh_seed()
        s = self.checked_settings()
        if s is None or (s.mode in state.MODEL_MODES and self.model_pack_refused()):
            return True
        title = state.job_title(s, self.style.currentText() if s.model else "")
        job = self.submit(state.GENERATOR, s.to_params(), title=title)
        if job is None:
            return True
        self.start_batch(job, s.count)
        return True

    def apply_settings(self, record: AssetRecord) -> None:
        s = state.MusicSettings.from_params(record.params, record.seed)
        self.apply_to_controls(s)
        need = state.CLIPS_NEEDED.get(s.mode, 0)
        if need:
            self._clips = []
            gone = []
            from genstudio.generators.music import midi

            for p in s.inputs[:need]:
                try:
                    self._clips.append(Clip(Path(p), midi.read_midi(p)))
                except (GenStudioError, OSError):
                    gone.append(Path(p).name)
            self._update_clip_label()
            self.clips_changed.emit()
            if gone:
                self.ctx.show_message(
                    f"The clip {', '.join(gone)} of this piece cannot be read any more; drop it "
                    "(or another) on the piano roll before generating.",
                    "warning",
                )

    def accepts_drop(self, path: Path) -> bool:
        return state.is_midi_path(path)

    def handle_drop(self, path: Path) -> None:
        if self.add_clip(path):
            self.ctx.show_message(f"{path.name} is the clip for {state.MODE_LABELS[self._mode]}.")

    def activated(self) -> None:
        self.refresh_model_state()
        self.refresh_styles()  # a training may have finished meanwhile (older reads are dropped)

    def shutdown(self) -> None:
        self._closed = True
        self._timer.stop()
        self._audio_token += 1
        if self._player is not None:
            self._player.close()
            backend = self._player.backend
            join = getattr(backend, "join", None)
            if callable(join):
                join(2.0)
        for t in self._audio_threads:
            t.join(10.0)
        self._audio_threads = []
        for t in self._style_threads:
            t.join(10.0)
        self._style_threads = []
        try:
            self.ctx.jobs.job_event.disconnect(self._on_any_job_event)
        except (RuntimeError, TypeError):
            pass
        self.unfollow_jobs()

    # ====================================================================== model pack

    def _probe_model_pack(self) -> str | None:
        """Why the model modes cannot run (the model pack is missing), or None."""
        return state.model_pack_problem()

    def _generation_blocked(self) -> str | None:
        if self._model_problem and self._mode in state.MODEL_MODES:
            return "The music model pack is missing (see the note above); Drums works without it."
        return None

    # ====================================================================== jobs -> results

    def _on_project_changed(self, _project: Project | None) -> None:
        self.refresh_styles()  # the project's own fine-tuned styles
        self.stop()
        self.clear_results()
        self._batch_job = None
        self.progress.hide()
        self.batch_info.setText("")
        self._show(None)

    def _on_job_over(self, job_id: str, st: str) -> None:
        for r in self._results.values():
            if r.job_id == job_id and r.audio_pending:
                r.audio_pending = False
                if r is self._current and r.audio_id is None:
                    self._load_audio_for(r)
        if job_id != self._batch_job:
            return
        self.progress.hide()
        err = self.report_batch_end(job_id, st, self.made_by(job_id), "Music")
        if st == "failed" and "model pack" in err.lower():
            self.refresh_model_state()

    def _add_asset(self, asset_id: str, job_id: str) -> None:
        rec = self.gallery_record(asset_id, "music asset")
        project = self.ctx.project
        if rec is None or project is None:
            return
        if rec.kind == "audio":
            parent = rec.parent or rec.extra.get("rendered_from")
            r = self._results.get(str(parent)) if parent else None
            if r is not None:
                r.audio_id = rec.id
                r.audio_pending = False
                if r is self._current:
                    self._load_audio_for(r)
            return
        if rec.kind != "music":
            return
        from genstudio.generators.music import midi

        path = project.asset_path(rec)
        try:
            score = midi.read_midi(path)
        except GenStudioError as e:
            log.warning("music asset %s unreadable: %s", asset_id, e)
            return
        audio = bool(rec.params.get("audio", False))
        r = Result(rec.id, rec, score, path, job_id=job_id, audio_pending=audio)
        self._results[rec.id] = r
        item = QListWidgetItem(icons.icon("music", 18), "")
        item.setText(
            f"{state.describe_result(rec.params, rec.extra)}\n{state.describe_score(score)}"
        )
        item.setToolTip(f"{rec.id}\n{rec.file}")
        self.add_result_item(item, rec.id, job_id)

    # ====================================================================== showing

    def _show(self, r: Result | None) -> None:
        self._stop_player()
        self._current = r
        if r is None:
            self._shown_key = ""
            self.roll.set_score(None)
            self.roll_title.setText("Piano roll")
            self.roll_info.setText("")
            self._update_transport()
            return
        self.roll.set_score(r.score, r.path, r.clip_bars)
        self.roll_title.setText("Piano roll")
        seed = r.record.seed
        self.roll_info.setText(
            (f"  seed {seed} \u2022 " if seed is not None else "  ") + state.describe_score(r.score)
        )
        self.roll_info.setToolTip(f"{r.asset_id}\n{r.path}")
        self._shown_key = r.asset_id
        self._load_audio_for(r)
        self._update_transport()

    def _show_clip(self, clip: Clip) -> None:
        """Preview a dropped clip in the roll (and make it playable)."""
        self._stop_player()
        self.results.blockSignals(True)
        self.results.setCurrentRow(-1)
        self.results.clearSelection()
        self.results.blockSignals(False)
        self._current = None
        self.roll.set_score(clip.score, clip.path, clip_bars=clip.score.n_bars)
        self.roll_title.setText("Clip")
        self.roll_info.setText(f"  {state.describe_clip(clip.path, clip.score)}")
        self.roll_info.setToolTip(str(clip.path))
        self._shown_key = str(clip.path)
        self._start_audio_job(self._shown_key, None, clip.score, "auto")
        self._update_transport()

    # ====================================================================== audio

    def player(self) -> Player:
        if self._player is None:
            from genstudio.generators.music.playback import Player

            self._player = Player(on_finished=self._player_finished.emit)
        return self._player

    def _load_audio_for(self, r: Result) -> None:
        project = self.ctx.project
        if r.audio_id and project is not None:
            try:
                wav = project.asset_path(project.gallery.get(r.audio_id))
            except GenStudioError as e:
                log.warning("audio %s of %s unavailable: %s", r.audio_id, r.asset_id, e)
                wav = None
            if wav is not None:
                self._start_audio_job(r.asset_id, wav, r.score, r.record.params.get("soundfont"))
                return
        if r.audio_pending:
            self.audio_state.setText("rendering audio\u2026")
            return
        self._start_audio_job(r.asset_id, None, r.score, r.record.params.get("soundfont"))

    def _start_audio_job(self, key: str, wav: Path | None, score: Score, soundfont) -> None:
        """Read ``wav`` (or render ``score``) on a worker thread; the result comes back queued."""
        if self._closed:
            return
        self._audio_token += 1
        token = self._audio_token
        player = self.player()
        sf = soundfont if isinstance(soundfont, str) and soundfont else "auto"
        self._audio_threads = [t for t in self._audio_threads if t.is_alive()]
        self.audio_state.setText("reading audio\u2026" if wav else "rendering audio\u2026")
        emit = self._audio_ready.emit

        def work() -> None:
            audio, sr, note, error = None, 0, "", ""
            try:
                player.probe()  # choose the output off the GUI thread (PortAudio may be slow)
                if wav is not None:
                    try:
                        audio, sr = state.read_wav(wav)
                    except GenStudioError as e:
                        log.warning("%s; rendering from the MIDI instead", e)
                if audio is None:
                    from genstudio.generators.music.soundfont import render_audio

                    r = render_audio(score, soundfont=sf, normalize=True)
                    audio, sr, note = r.audio, r.sample_rate, r.message or ""
            except Exception as e:  # a render failure must reach the user, not kill the thread
                log.exception("audio for %s failed", key)
                error = str(e)
            try:
                emit(token, audio, int(sr), note, error)
            except RuntimeError:  # the panel is gone (window closed)
                pass

        t = threading.Thread(target=work, name="genstudio-music-audio", daemon=True)
        self._audio_threads.append(t)
        t.start()

    def _on_audio_ready(self, token: int, audio, sr: int, note: str, error: str) -> None:
        if token != self._audio_token or self._closed:
            return  # a newer selection took over
        player = self.player()
        self.audio_state.setText("")
        if error or audio is None:
            self.ctx.show_message(f"The audio could not be prepared: {error}", "error")
            self._play_when_loaded = False
            return
        try:
            player.load(audio, sr)
        except GenStudioError as e:
            self.ctx.show_message(f"The audio could not be played: {e.user_message()}", "error")
            return
        if self.loop_button.isChecked():
            self.set_loop(True)
        notes = []
        if player.has_device is False and player.message:
            self._device_note = player.message
        if self._device_note:
            notes.append(self._device_note)
        if note:
            notes.append(note)
        self.audio_note.setText("\n".join(notes))
        self.audio_note.setVisible(bool(notes))
        self._loaded_key = self._shown_key
        self.roll.set_playhead(0, follow=False)
        self._update_transport()
        self.audio_loaded.emit(self._shown_key)
        if self._play_when_loaded:
            self._play_when_loaded = False
            self.play()

    def audio_ready(self) -> bool:
        """True when the player holds the audio of what the roll shows."""
        return bool(self._shown_key) and self._loaded_key == self._shown_key

    # ====================================================================== transport

    def is_playing(self) -> bool:
        from genstudio.generators.music.playback import PlayerState

        return self._player is not None and self._player.state == PlayerState.PLAYING

    def position(self) -> float:
        return self._player.position if self._player is not None else 0.0

    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.roll.score() is None:
            return
        if not self.audio_ready():
            self._play_when_loaded = True
            return
        self.player().play()
        self._timer.start()
        self._update_transport()

    def pause(self) -> None:
        self._play_when_loaded = False
        if self._player is not None:
            self._player.pause()
        self._timer.stop()
        self._tick()

    def stop(self) -> None:
        self._play_when_loaded = False
        if self._player is not None:
            self._player.stop()
        self._timer.stop()
        if self.roll.score() is not None:
            self.roll.set_playhead(0)
        self._update_transport()

    def _stop_player(self) -> None:
        """Before another piece is shown: stop and forget the loaded audio's relevance."""
        self._audio_token += 1
        self._play_when_loaded = False
        self._loaded_key = ""
        if self._player is not None:
            self._player.stop()
        self._timer.stop()

    def set_loop(self, enabled: bool) -> None:
        if self.loop_button.isChecked() != enabled:
            self.loop_button.setChecked(enabled)  # re-enters through toggled
            return
        if self._player is not None:
            score = self.roll.score()
            end = score.duration_s if score is not None else None
            self._player.set_loop(enabled, 0.0, end)

    def seek(self, seconds: float) -> None:
        if self._player is None or not self.audio_ready():
            return
        self._player.seek(seconds)
        self._tick()

    def _tick(self) -> None:
        if self._player is None:
            return
        pos = self._player.position
        self.roll.set_playhead_seconds(pos)
        if not self.is_playing():
            self._timer.stop()
        self._update_transport()

    def _update_transport(self) -> None:
        playing = self.is_playing()
        self.play_button.setIcon(icon("pause" if playing else "play", 18))
        self.play_button.setToolTip("Pause" if playing else "Play")
        has = self.roll.score() is not None
        for w in (self.play_button, self.stop_button, self.loop_button):
            w.setEnabled(has)
        self.drag_button.setEnabled(self.roll.file() is not None)
        score = self.roll.score()
        total = score.duration_s if score is not None else 0.0
        pos = min(self.position(), total) if self.audio_ready() else 0.0
        self.time_label.setText(f"{state.format_time(pos)} / {state.format_time(total)}")

    # ====================================================================== drag out

    def drag_mime_data(self):
        """The mime data a drag-out carries (the shown piece's .mid as a file URL)."""
        return self.roll.mime_data()

    # ====================================================================== Qt events

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not event.spontaneous() and self.is_playing():
            self.pause()  # another mode is shown: no music from an invisible panel
        super().hideEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if hasattr(self, "play_button"):
                self._update_transport()
        super().changeEvent(event)
