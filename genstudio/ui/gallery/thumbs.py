"""Thumbnails loaded off the GUI thread, newest request first, cached in memory.

The worker asks the gallery for the cached thumbnail file (``Gallery.thumbnail`` makes it on
first use) and decodes it into a QImage (safe off the GUI thread); the GUI thread turns it into
a QPixmap when the queued ``loaded`` signal arrives.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

if TYPE_CHECKING:
    from genstudio.core.gallery import Gallery

log = logging.getLogger(__name__)

MAX_PENDING = 256  # older requests (scrolled past) are dropped
CACHE_SIZE = 2000


class ThumbnailLoader(QObject):
    loaded = Signal(str)  # asset id; the pixmap is in the cache (or marked missing)
    _done = Signal(str, object)  # from the worker: (asset id, QImage | None)

    def __init__(self, size: int = 128, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self._gallery: Gallery | None = None
        self._cache: OrderedDict[str, QPixmap | None] = OrderedDict()
        self._pending: deque[str] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._generation = 0
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def set_gallery(self, gallery: Gallery | None) -> None:
        with self._cond:
            self._gallery = gallery
            self._generation += 1
            self._pending.clear()
            self._queued.clear()
        self._cache.clear()

    def cached(self, asset_id: str) -> tuple[bool, QPixmap | None]:
        """(known, pixmap). known=False means a load was requested; pixmap None = no image."""
        if asset_id in self._cache:
            self._cache.move_to_end(asset_id)
            return True, self._cache[asset_id]
        self.request(asset_id)
        return False, None

    def invalidate(self, asset_id: str) -> None:
        self._cache.pop(asset_id, None)

    def request(self, asset_id: str) -> None:
        with self._cond:
            if self._stop or self._gallery is None:
                return
            if asset_id in self._queued:
                try:  # seen again: move it to the front (LIFO)
                    self._pending.remove(asset_id)
                except ValueError:  # being loaded right now
                    return
            self._pending.append(asset_id)
            self._queued.add(asset_id)
            while len(self._pending) > MAX_PENDING:
                self._queued.discard(self._pending.popleft())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="genstudio-thumbnails", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                asset_id = self._pending.pop()
                gallery = self._gallery
                generation = self._generation
            image: QImage | None = None
            try:
                path = gallery.thumbnail(asset_id, self.size) if gallery is not None else None
                if path is not None:
                    from genstudio.ui.imagefile import load_image

                    loaded, _why = load_image(path)
                    image = loaded.image if loaded is not None else None
            except Exception as e:  # a missing/corrupt asset just has no thumbnail
                log.debug("no thumbnail for %s: %s", asset_id, e)
            with self._cond:
                self._queued.discard(asset_id)
                stale = generation != self._generation or self._stop
            if not stale:
                try:
                    self._done.emit(asset_id, image)
                except RuntimeError:  # loader deleted during shutdown
                    return

    def _on_done(self, asset_id: str, image: QImage | None) -> None:
        self._cache[asset_id] = QPixmap.fromImage(image) if image is not None else None
        self._cache.move_to_end(asset_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self.loaded.emit(asset_id)
