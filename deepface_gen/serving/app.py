"""The HTTP API and the web page: ``create_app(generator)`` is a FastAPI application.

Every handler checks its request against the model before queueing it (so a bad one
never joins a batch), waits for the engine's worker within the time limit, and answers
JSON. A mistake in a request is a 4xx whose body is ``{"error": one sentence,
"field": the request field it concerns or null}``; the web page shows the sentence
beside that field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import typing
from concurrent.futures import Future
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np
from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepface_gen import __version__, checks
from deepface_gen.attributes import CELEBA_ATTRIBUTES, aliases_of
from deepface_gen.errors import DeepFaceGenError, DescriptionError, ImageError
from deepface_gen.generation import defaults
from deepface_gen.generation.generator import FaceGenerator, GenerateOptions, GenerationPlan
from deepface_gen.io.images import crop_face, face_box, resize
from deepface_gen.serving import codecs
from deepface_gen.serving.engine import BusyError, Engine
from deepface_gen.serving.jobs import EditJob, runners
from deepface_gen.serving.limits import DEFAULT_LIMITS, Limits

STATIC = Path(__file__).parent / "static"
EDIT_FIELDS = ("image", "attrs", "strength", "sweep", "seed", "steps", "guidance", "render")


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` with a sentence about ``field``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _option_fields(options: type) -> dict[str, Any]:
    """A request model's fields from a library options dataclass: the same names,
    types and defaults, so an option added there is a request field here."""
    hints = typing.get_type_hints(options)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(options)}


# The options of ``deepface-gen generate``, by the same names (``--vae`` excepted: a
# server does not open paths its clients name); strict: true is not 1, "4" not 4.
GenerateRequest = create_model(
    "GenerateRequest",
    __config__=ConfigDict(extra="forbid", strict=True),
    attrs=(str | dict[str, float], Field(description='e.g. "smiling woman" or {"Smiling": 1}')),
    **_option_fields(GenerateOptions),
    size=(int | None, Field(default=None, description="side of the returned images")),
)


GENERATE_FIELDS = tuple(GenerateRequest.model_fields)


def _field_of(message: str, fields: tuple[str, ...]) -> str | None:
    """The request field a library error is about: its first word ("steps must be ..."),
    or its second after "unknown" ("unknown render 'x'"), where that names one."""
    words = [w.strip(":'\"").lower() for w in message.split(" ", 2)[:2]]
    named = words[1] if words[0] == "unknown" and len(words) > 1 else words[0]
    return named if named in fields else None


def _error(err: DeepFaceGenError, fields: tuple[str, ...], status: int = 400) -> RequestError:
    if isinstance(err, codecs.TooLargeError):
        return RequestError(413, str(err), "image")
    if isinstance(err, ImageError):
        return RequestError(status, str(err), "image")
    if isinstance(err, DescriptionError):
        return RequestError(status, str(err), "attrs")
    field = err.field if err.field in fields else _field_of(str(err), fields)
    return RequestError(status, str(err), field)


def _checked(call, fields: tuple[str, ...]):
    """Run a library check, turning its error into a 400 about the field it names."""
    try:
        return call()
    except DeepFaceGenError as err:
        raise _error(err, fields) from None


def _device() -> str:
    device = jax.devices()[0]
    return f"{device.platform}: {getattr(device, 'device_kind', device.platform)}"


def create_app(
    generator: FaceGenerator, limits: Limits = DEFAULT_LIMITS, model_name: str = "starter"
) -> FastAPI:
    """The application for one loaded model. Its engine starts with the app and stops
    with it (``lifespan``); warm the model first (``jobs.warm``) so the first requests
    compile nothing."""
    engine = Engine(runners(generator), limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()
        yield
        engine.stop()

    app = FastAPI(
        title="deepface-gen",
        version=__version__,
        description="Faces from attribute descriptions, edits of portraits, attribute scores.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.limits = limits
    known = generator.known_attributes

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError) -> JSONResponse:
        return JSONResponse({"error": err.message, "field": err.field}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "form")]
        field = where[0] if where else None
        message = first.get("msg", "malformed request")
        if first.get("type") == "extra_forbidden":
            message = f"{field} is not an option here"
        elif first.get("type") == "missing":
            message = f"{field} is required"
        elif field:
            message = f"{field}: {message}"
        return JSONResponse({"error": message, "field": field}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail), "field": None}, status_code=err.status_code)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        # A fault of the server, not the request: say so in one line, never a trace.
        return JSONResponse(
            {"error": f"internal error ({type(err).__name__}); the request was not served",
             "field": None},
            status_code=500,
        )  # fmt: skip

    @app.middleware("http")
    async def gatekeeper(request: Request, call_next):
        """Refuse an oversized body before reading it; tell the engine that a request
        for the model has arrived, so a batch being gathered waits for it."""
        length = request.headers.get("content-length")
        limit = limits.max_upload_bytes * max(limits.max_files, 1) + 1_000_000
        if length and length.isdigit() and int(length) > limit:
            message = f"request is {int(length):,} bytes; this server takes at most {limit:,}"
            return JSONResponse({"error": message, "field": "image"}, status_code=413)
        if request.method != "POST" or not request.url.path.startswith("/api/"):
            return await call_next(request)
        request.state.arrival = engine.arrival()
        try:
            return await call_next(request)
        finally:
            request.state.arrival.close()

    async def wait(future: Future) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limits.request_seconds)
        except TimeoutError:
            future.cancel()
            raise RequestError(
                503, f"the request took longer than {limits.request_seconds:g} s; ask for less"
            ) from None
        except DeepFaceGenError as err:
            raise _error(err, GENERATE_FIELDS + EDIT_FIELDS) from None

    def submit(
        request: Request, kind: str, payload: Any, group: Any, weight: int, last: bool = True
    ) -> Future:
        try:
            arrival = request.state.arrival if last else None
            return engine.submit(kind, payload, group, weight, arrival)
        except BusyError as err:
            raise RequestError(503, str(err)) from None

    # -- pages and vocabulary ---------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/health")
    async def health() -> dict:
        """Ready: the model is loaded and its compiled paths warm."""
        return {"status": "ok", "model": model_name, "device": _device(), "size": generator.size}

    @app.get("/api/attributes")
    async def attributes() -> dict:
        """The attribute vocabulary (names, the phrases that mean each) and which the
        model knows (can generate, edit and score)."""
        return {
            "attributes": [
                {"name": name, "phrases": aliases_of(name), "known": name in known}
                for name in CELEBA_ATTRIBUTES
            ],
            "limits": {
                "max_faces": limits.max_faces, "max_steps": limits.max_steps,
                "max_size": limits.max_size, "max_upload_bytes": limits.max_upload_bytes,
                "max_files": limits.max_files, "max_strengths": limits.max_strengths,
            },
            "defaults": {
                "guidance": defaults.GUIDANCE, "temperature": defaults.TEMPERATURE,
                "edit_strength": defaults.EDIT_STRENGTH,
            },
        }  # fmt: skip

    @app.get("/api/stats")
    async def stats() -> dict:
        """Batches the engine ran, by kind and size (in faces or portraits)."""
        return engine.stats()

    # -- generate -----------------------------------------------------------------------

    def plan_for(body: GenerateRequest) -> GenerationPlan:
        options = body.model_dump()
        size = options.pop("size")
        if size is not None:
            checks.whole("size", size, 16, limits.max_size)
        check_steps(body.steps)
        plan = generator.plan(options.pop("attrs"), **options)
        if plan.faces > limits.max_faces:
            raise DeepFaceGenError(
                f"n asks for {plan.faces} faces; this server draws at most {limits.max_faces} "
                "per request"
            )
        return plan

    @app.post("/api/generate", response_model=None)
    async def generate(
        request: Request,
        body: GenerateRequest,
        format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
    ) -> dict | Response:
        """Faces for a description: base64 PNGs (``?format=png``: one grid PNG)."""
        started = time.perf_counter()
        plan = _checked(lambda: plan_for(body), GENERATE_FIELDS)
        group = "one-pass" if plan.one_pass else None
        future = submit(request, "generate", plan, group, plan.faces)
        faces = await wait(future)
        if body.size and body.size != faces.shape[1]:
            faces = np.stack([resize(face, (body.size, body.size)) for face in faces])
        if format == "png":
            return Response(codecs.grid_png(faces), media_type="image/png")
        return {
            "images": codecs.base64_pngs(faces),
            "attributes": [dict(spec.values) for spec in plan.specs],
            "render": "vae" if plan.backend == "vae" else plan.render,
            "seconds": round(time.perf_counter() - started, 4),
        }

    # -- edit ---------------------------------------------------------------------------

    async def read_upload(upload: UploadFile) -> tuple[np.ndarray, str]:
        name = Path(upload.filename or "upload").name or "upload"
        data = await upload.read(limits.max_upload_bytes + 1)
        image = _checked(
            lambda: codecs.decode_upload(data, name, limits.max_upload_bytes, limits.max_pixels),
            EDIT_FIELDS,
        )
        return image, name

    def strengths_of(strength: float | None, sweep: str | None) -> tuple[float, ...]:
        if sweep:
            return _checked(lambda: checks.sweep(sweep, "sweep", limits.max_strengths), EDIT_FIELDS)
        value = defaults.EDIT_STRENGTH if strength is None else strength
        limit = checks.MAX_EDIT_STRENGTH
        return (_checked(lambda: checks.real("strength", value, -limit, limit), EDIT_FIELDS),)

    def check_steps(steps: int | None) -> None:
        if steps is not None and steps > limits.max_steps:
            raise RequestError(
                400, f"steps must be at most {limits.max_steps} on this server", "steps"
            )

    @app.post("/api/edit", response_model=None)
    async def edit(
        request: Request,
        image: Annotated[UploadFile, File()],
        attrs: Annotated[str, Form()],
        strength: Annotated[float | None, Form()] = None,
        sweep: Annotated[str | None, Form()] = None,
        seed: Annotated[int, Form()] = 0,
        steps: Annotated[int | None, Form()] = None,
        guidance: Annotated[float, Form()] = defaults.GUIDANCE,
        render: Annotated[str | None, Form()] = None,
        format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
    ) -> dict | Response:
        """Alter a portrait (the centred square of the upload): one image per strength
        (``sweep``: a strip), base64 PNGs or (``?format=png``) one strip PNG."""
        started = time.perf_counter()
        strengths = strengths_of(strength, sweep)
        check_steps(steps)
        spec, used_render = _checked(
            lambda: generator.check_edit(attrs, render, steps, seed, guidance), EDIT_FIELDS
        )
        picture, name = await read_upload(image)
        face = crop_face(picture, face_box(picture), generator.size)
        job = EditJob(face, name, attrs, strengths, seed, steps, guidance, render)
        future = submit(request, "edit", job, job.group, 1)
        result = await wait(future)
        if format == "png":
            captions = ["input"] + [f"s={v:g}" for v in strengths]
            strip = [face, *result.images]
            title = f'edit "{attrs}" at strength s ({used_render})'
            return Response(
                codecs.grid_png(strip, columns=len(strip), captions=captions, title=title),
                media_type="image/png",
            )
        return {
            "input": codecs.base64_pngs([face])[0],
            "images": codecs.base64_pngs(result.images),
            "strengths": list(strengths),
            "attributes": dict(spec.values),
            "render": used_render,
            "warning": result.warning,
            "seconds": round(time.perf_counter() - started, 4),
        }

    # -- score --------------------------------------------------------------------------

    @app.post("/api/score")
    async def score(request: Request, image: Annotated[list[UploadFile], File()]) -> dict:
        """Attribute probabilities of each uploaded image (its centred square), for the
        attributes the model knows."""
        started = time.perf_counter()
        if len(image) > limits.max_files:
            raise RequestError(
                400, f"{len(image)} images; this server scores at most {limits.max_files}", "image"
            )
        pictures = [await read_upload(upload) for upload in image]
        faces = [crop_face(p, face_box(p), generator.size) for p, _ in pictures]
        last = len(faces) - 1
        futures = [
            submit(request, "score", face, "score", 1, last=i == last)
            for i, face in enumerate(faces)
        ]
        results = [await wait(f) for f in futures]
        index = {name: i for i, name in enumerate(generator.classifier.attributes)}
        return {
            "results": [
                {
                    "name": name,
                    "probabilities": {a: round(float(p[index[a]]), 4) for a in known},
                }
                for (_, name), p in zip(pictures, results, strict=True)
            ],
            "seconds": round(time.perf_counter() - started, 4),
        }

    return app
