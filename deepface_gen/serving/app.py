"""The HTTP API and the web page: ``create_app(generator)`` is a FastAPI application.

Every handler checks its request against the model before queueing it (so a bad one
never joins a batch), waits for the engine's worker within the time limit, and answers
JSON. A mistake in a request is a 4xx whose body is ``{"error": one sentence,
"field": the request field it concerns or null}`` (``refusals.py``); the web page shows
the sentence beside that field. The routes live a module per resource in ``routes/``;
what they share (the model, the engine, the limits) is a ``service.Service``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from deepface_gen import __version__
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.serving import refusals
from deepface_gen.serving.engine import Engine
from deepface_gen.serving.jobs import runners
from deepface_gen.serving.limits import DEFAULT_LIMITS, Limits
from deepface_gen.serving.routes import generate, info, portraits
from deepface_gen.serving.service import Service


def create_app(
    generator: FaceGenerator, limits: Limits = DEFAULT_LIMITS, model_name: str = "starter"
) -> FastAPI:
    """The application for one loaded model. Its engine starts with the app and stops
    with it (``lifespan``); warm the model first (``jobs.warm``) so the first requests
    compile nothing."""
    engine = Engine(runners(generator), limits)
    fields = generate.GENERATE_FIELDS + portraits.EDIT_FIELDS
    service = Service(generator, engine, limits, model_name, fields)

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
    refusals.install(app)

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

    app.mount("/static", StaticFiles(directory=info.STATIC), name="static")
    for module in (info, generate, portraits):
        app.include_router(module.router(service))
    return app
