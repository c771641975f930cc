"""The Train mode: teach a model the user's own material (a music style from MIDI files).

``state`` holds the Qt-free logic (settings -> ``train.music`` params, run folders, log
tailing, words), ``lossplot`` the :class:`LossPlot` widget, ``panel`` the :class:`TrainPanel`
registered in :mod:`genstudio.ui.modes`. The studio never imports torch: training runs in the
job runner's training child process.
"""

from genstudio.ui.modes.train.panel import TrainPanel

__all__ = ["TrainPanel"]
