"""Errors are values at the boundaries: every failure a user can cause has a kind, a message
that says what went wrong and a hint that says what to change."""

from __future__ import annotations


class UserMessage(Exception):
    """An exception that carries words for a user: ``message`` (what happened) and ``hint``
    (what to change); the base of :class:`GenStudioError` and of :class:`Cancelled`."""

    kind = "message"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_message(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return self.user_message()


class GenStudioError(UserMessage):
    """Base of every error GenStudio shows to a user."""

    kind = "error"


class ProjectError(GenStudioError):
    kind = "project"


class ProjectReadOnlyError(ProjectError):
    """Raised on any write to a project that was opened read-only."""

    kind = "project-read-only"


class AssetError(GenStudioError):
    kind = "asset"


class GalleryError(GenStudioError):
    kind = "gallery"


class ModelPackError(GenStudioError):
    kind = "model-pack"


class UnsafeModelError(ModelPackError):
    """Pickle formats, hash mismatches, external data escaping the pack folder."""

    kind = "unsafe-model"


class InvalidParamsError(GenStudioError):
    kind = "invalid-params"


class JobError(GenStudioError):
    kind = "job"


class Cancelled(UserMessage):  # noqa: N818 - a stop the user asked for, not an error
    """Raised inside a generator (or a training run) when the user cancelled it.

    Not a :class:`GenStudioError`: a cancel is not a failure, and a handler that turns errors
    into messages (``except GenStudioError``) must not swallow it - it reaches the code that
    owns the job (the runner marks the job cancelled, the CLI exits 130)."""

    kind = "cancelled"

    def __init__(self, message: str = "Cancelled by the user.", *, hint: str | None = None):
        super().__init__(message, hint=hint)


class MidiFileError(GenStudioError):
    """A MIDI file that cannot be read: not MIDI, corrupt, truncated, too large or unsupported."""

    kind = "midi-file"
