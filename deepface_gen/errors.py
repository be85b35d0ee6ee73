"""Errors the user can act on. Each says what went wrong and what to do about it."""

from __future__ import annotations


class DeepFaceGenError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback.

    ``field`` names the option or request field the error is about where one is (the
    server reports it beside the message, and the web page shows it by that field)."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DescriptionError(DeepFaceGenError, ValueError):
    """A description names unknown attributes, contradicts itself, or is empty."""


class ImageError(DeepFaceGenError, ValueError):
    """An image cannot be read, or is too small or otherwise unusable."""


class WeightsError(DeepFaceGenError, ValueError):
    """A weight file is missing, corrupt, truncated, or does not fit the architecture."""


class DataError(DeepFaceGenError, ValueError):
    """A dataset folder or label file is malformed."""


class DownloadError(DeepFaceGenError, OSError):
    """A download failed (offline, unreachable host, or checksum mismatch)."""
