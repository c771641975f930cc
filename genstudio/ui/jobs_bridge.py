"""The Qt side of the one job runner.

:class:`genstudio.core.jobs.JobRunner` calls its subscribers on worker threads. The bridge
turns each call into a Qt signal emitted from that worker thread into an object that lives in
the GUI thread, through a *queued* connection, so every public signal below is delivered on
the GUI thread, in order. Widgets never see a worker thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from genstudio.core.jobs import EventType

if TYPE_CHECKING:
    from genstudio.core.jobs import Job, JobEvent, JobRunner
    from genstudio.core.project import Project

log = logging.getLogger(__name__)


class JobsBridge(QObject):
    """Owns the JobRunner for the window and re-emits its events on the GUI thread."""

    #: a job the bridge has not announced yet (submit, retry, restored queue)
    job_added = Signal(object)  # Job
    #: every runner event, on the GUI thread
    job_event = Signal(object)  # JobEvent
    #: a job's state/progress changed; carries the job id
    job_changed = Signal(str)
    #: an asset was written by a job
    asset_added = Signal(str)
    #: a generic event a generator sent (``ctx.event``): job id, event name, data dict.
    #: Training sends loss, preview, checkpoint ..., and paused/resumed after a pause.
    generator_event = Signal(str, str, object)
    #: the runner was switched to another project; the job list was replaced
    jobs_reset = Signal()

    _relay = Signal(object)  # emitted from worker threads

    def __init__(
        self,
        runner: JobRunner | None = None,
        parent: QObject | None = None,
        *,
        workers: int = 1,
    ) -> None:
        super().__init__(parent)
        if runner is None:
            from genstudio.core.jobs import JobRunner

            runner = JobRunner(None, workers=workers)
        self.runner = runner
        self._known: set[str] = set()
        self._last: dict[str, JobEvent] = {}
        self._relay.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = runner.subscribe(self._on_runner_event)
        self._closed = False

    # --- worker side ------------------------------------------------------------------------

    def _on_runner_event(self, event: JobEvent) -> None:
        # Called on a worker thread: touch nothing but the signal.
        if not self._closed:
            self._relay.emit(event)

    # --- GUI side ---------------------------------------------------------------------------

    @Slot(object)
    def _deliver(self, event: JobEvent) -> None:
        if self._closed:
            return
        if event.job_id not in self._known:
            try:
                self._announce(self.runner.get(event.job_id))
            except Exception:  # a job the runner forgot (project switched) - ignore it
                log.debug("event for unknown job %s", event.job_id)
                return
        if event.type == EventType.EVENT:
            # Generic events may come many times a second (training loss): they replace
            # neither the last progress nor count as a change of the job's row.
            self.job_event.emit(event)
            self.generator_event.emit(event.job_id, event.name or "", dict(event.data or {}))
            return
        self._last[event.job_id] = event
        self.job_event.emit(event)
        if event.type == EventType.ASSET and event.asset_id:
            self.asset_added.emit(event.asset_id)
        self.job_changed.emit(event.job_id)

    def _announce(self, job: Job) -> None:
        if job.id not in self._known:
            self._known.add(job.id)
            self.job_added.emit(job)

    # --- API used by panels -----------------------------------------------------------------

    def submit(self, generator: str, params: dict[str, Any], title: str = "") -> Job:
        """Queue a job (raises InvalidParamsError/GenStudioError before queueing)."""
        from genstudio.core.jobs import JobSpec

        job = self.runner.submit(JobSpec(generator=generator, params=dict(params), title=title))
        self._announce(job)
        return job

    def cancel(self, job_id: str) -> None:
        self.runner.cancel(job_id)

    def pause(self, job_id: str) -> None:
        """Pause a running child-process job (training); JobError for any other job."""
        self.runner.pause(job_id)

    def resume(self, job_id: str) -> None:
        self.runner.resume(job_id)

    def is_paused(self, job_id: str) -> bool:
        return self.runner.is_paused(job_id)

    def retry(self, job_id: str) -> Job:
        job = self.runner.retry(job_id)
        self._announce(job)
        self.job_changed.emit(job.id)
        return job

    def clear_finished(self) -> None:
        self.runner.clear_finished()

    def jobs(self) -> list[Job]:
        return self.runner.jobs()

    def get(self, job_id: str) -> Job:
        return self.runner.get(job_id)

    def last_event(self, job_id: str) -> JobEvent | None:
        return self._last.get(job_id)

    def set_project(self, project: Project | None) -> None:
        self.runner.set_project(project)
        self._known.clear()
        self._last.clear()
        self.jobs_reset.emit()
        for job in self.runner.jobs():
            self._announce(job)

    def shutdown(self, wait: bool = True, timeout: float | None = 10.0) -> None:
        """Stop the runner's workers (running jobs go back to the saved queue); no signal is
        emitted afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            self._unsubscribe()
        finally:
            self.runner.shutdown(wait=wait, timeout=timeout)
