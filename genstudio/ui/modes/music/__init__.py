"""The Music mode: MIDI (and audio) from the ``music.*`` generators, a piano roll and playback.

``state`` holds the Qt-free logic (settings, reuse, clips, WAV reading), ``pianoroll`` the
:class:`PianoRoll` widget, ``panel`` the :class:`MusicPanel` registered in
:mod:`genstudio.ui.modes`.
"""

from genstudio.ui.modes.music.panel import MusicPanel

__all__ = ["MusicPanel"]
