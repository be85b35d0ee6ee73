"""What every route shares: the loaded model, its engine and limits, and how a request
is queued for the engine's worker and waited for within the time limit."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Request, UploadFile

from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.serving import codecs
from deepface_gen.serving.engine import BusyError, Engine, JobFuture
from deepface_gen.serving.limits import Limits
from deepface_gen.serving.refusals import RequestError, as_request_error, checked
from deepface_gen.serving.tickets import HEADER, Tickets


@dataclass(frozen=True)
class Service:
    """One loaded model behind its engine, with the limits of what a request may ask."""

    generator: FaceGenerator
    engine: Engine
    limits: Limits
    model_name: str
    fields: tuple[str, ...]  # every request field, for naming the one an error concerns
    tickets: Tickets = field(default_factory=Tickets)  # requests a client follows

    def submit(
        self, request: Request, kind: str, payload: Any, group: Any, weight: int,
        last: bool = True,
    ) -> JobFuture:  # fmt: skip
        """Queue a job; ``last`` tells the engine this request has nothing more to add
        to the batch being gathered. A request with an ``X-Progress-Ticket`` header can be
        followed at ``/api/progress/TICKET`` (``tickets.py``)."""
        try:
            arrival = request.state.arrival if last else None
            future = self.engine.submit(kind, payload, group, weight, arrival)
        except BusyError as err:
            raise RequestError(503, str(err)) from None
        self.tickets.follow(request.headers.get(HEADER), future)
        return future

    async def wait(self, future: JobFuture) -> Any:
        """The job's result, or a 503 past the time limit (the job is given up: it stops
        between two chunks of its steps, and the requests behind it go on)."""
        seconds = self.limits.request_seconds
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), seconds)
        except TimeoutError:
            future.give_up()
            raise RequestError(
                503, f"the request took longer than {seconds:g} s and was stopped; ask for less"
            ) from None
        except DeepFaceGenError as err:
            raise as_request_error(err, self.fields) from None

    async def read_upload(
        self, upload: UploadFile, fields: tuple[str, ...]
    ) -> tuple[np.ndarray, str]:
        """An uploaded image, checked before decoding, with its file name."""
        name = Path(upload.filename or "upload").name or "upload"
        limits = self.limits
        data = await upload.read(limits.max_upload_bytes + 1)
        image = checked(
            lambda: codecs.decode_upload(data, name, limits.max_upload_bytes, limits.max_pixels),
            fields,
        )
        return image, name

    async def portrait(
        self, picture: np.ndarray, name: str, align: str, face: int, fields: tuple[str, ...]
    ):
        """An upload as the model sees it (``faces.photos.prepare``: its face found and
        aligned where it is a photo), found off the event loop; no face with
        ``align="on"`` is a 400 about the image."""
        from deepface_gen.faces import photos

        layout, size = self.generator.classifier.face_layout, self.generator.size
        call = functools.partial(photos.prepare, picture, size, layout, align, face, name=name)
        return await asyncio.to_thread(checked, call, fields)

    def check_steps(self, steps: int | None) -> None:
        """Refuse more optimization steps than this server runs for one request."""
        if steps is not None and steps > self.limits.max_steps:
            raise RequestError(
                400, f"steps must be at most {self.limits.max_steps} on this server", "steps"
            )
