"""What one request to the service may ask for: options of ``deepface-gen serve``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-request limits and batching settings, with defaults safe for a shared machine.

    A request over a limit is refused with a 4xx and the limit named; none of these
    changes what an accepted request draws."""

    max_faces: int = 16  # faces per generate request (descriptions x n)
    max_steps: int = 500  # optimization steps (refine, optimize, edits)
    max_size: int = 512  # side of returned images (generate's size)
    max_upload_bytes: int = 10_000_000  # one uploaded file
    max_pixels: int = 16_000_000  # an uploaded image, decoded
    max_files: int = 16  # images per score request
    max_strengths: int = 8  # strengths in an edit sweep
    request_seconds: float = 120.0  # wall time a request may wait and run
    max_queue: int = 256  # requests waiting for the model before new ones get 503
    batch_window_ms: float = 5.0  # how long a batch waits for requests still arriving
    max_batch_faces: int = 64  # faces drawn in one batched call

    def __post_init__(self) -> None:
        for name in ("max_faces", "max_steps", "max_size", "max_upload_bytes", "max_pixels",
                     "max_files", "max_strengths", "max_queue", "max_batch_faces"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.request_seconds <= 0 or self.batch_window_ms < 0:
            raise ValueError("request_seconds must be positive and batch_window_ms not negative")


DEFAULT_LIMITS = Limits()
