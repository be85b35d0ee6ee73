"""The web page and what a client asks before working: health, the attribute
vocabulary with the server's limits and defaults, and the engine's batch statistics."""

from __future__ import annotations

from pathlib import Path

import jax
from fastapi import APIRouter
from fastapi.responses import FileResponse

from deepface_gen.attributes import CELEBA_ATTRIBUTES, aliases_of
from deepface_gen.cgmm import model as cgmm_lib
from deepface_gen.generation import defaults
from deepface_gen.generation.requests import default_method, default_temperature
from deepface_gen.serving.refusals import RequestError
from deepface_gen.serving.service import Service

STATIC = Path(__file__).parents[1] / "static"  # the web page: HTML, CSS, JavaScript


def _device() -> str:
    """What the model runs on: "cpu", or the platform and the chip ("gpu: NVIDIA H200")."""
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    same = kind.lower() == device.platform.lower()
    return device.platform if same else f"{device.platform}: {kind}"


def _options(generator) -> dict:
    """What this model can do, for the page's choices: a VAE backend and start only
    where the bundle has a VAE, learned renders only where it has an inverter, the
    mixture and exemplar targets only where its cGMM stores them."""
    has_vae, has_inverter = generator.vae is not None, generator.inverter is not None
    stored = {"mixture": generator.cgmm.mixture, "exemplar": generator.cgmm.exemplars}
    return {
        "methods": [m for m in defaults.METHODS if stored.get(m, True) is not None],
        "backends": [b for b in defaults.BACKENDS if b != "vae" or has_vae],
        "inits": [i for i in defaults.INITS if i != "vae" or has_vae],
        "renders": [r for r in defaults.RENDERS if r == "optimize" or has_inverter],
        "edit_renders": [r for r in defaults.EDIT_RENDERS if r == "optimize" or has_inverter],
    }


def router(service: Service) -> APIRouter:
    """GET ``/``, ``/api/health``, ``/api/attributes``, ``/api/progress/TICKET`` and
    ``/api/stats``."""
    routes = APIRouter()
    generator, limits = service.generator, service.limits
    known = generator.known_attributes

    @routes.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @routes.get("/api/health")
    async def health() -> dict:
        """Ready: the model is loaded and its compiled paths warm."""
        return {"status": "ok", "model": service.model_name, "device": _device(),
                "size": generator.size}  # fmt: skip

    @routes.get("/api/attributes")
    async def attributes() -> dict:
        """The attribute vocabulary (names, the phrases that mean each) and which the
        model knows (can generate, edit and score)."""
        method = default_method(generator.cgmm.mixture is not None)
        borrowing = [m for m in defaults.METHODS if cgmm_lib.borrows(generator.cgmm, m)]
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
                "guidance": defaults.GUIDANCE,
                # the default method's, and the one the others share (see app.js)
                "temperature": default_temperature(
                    defaults.BACKEND, defaults.INIT, method in borrowing
                ),
                "shared_temperature": defaults.TEMPERATURE,
                "borrowing_methods": borrowing,
                "edit_strength": generator.edit_strength, "edit_focus": defaults.EDIT_FOCUS,
                "method": method,
                "backend": defaults.BACKEND, "init": defaults.INIT,
            },
            "options": _options(generator),
        }  # fmt: skip

    @routes.get("/api/progress/{ticket}")
    async def progress(ticket: str) -> dict:
        """How far the request sent with ``X-Progress-Ticket: TICKET`` has come: its state
        (queued, running, done, failed) and the steps done of the steps in all (0 of 0
        for one-pass work)."""
        state = service.tickets.state(ticket)
        if state is None:
            raise RequestError(404, f"no request with ticket {ticket!r} is known", "ticket")
        return state

    @routes.get("/api/stats")
    async def stats() -> dict:
        """Batches the engine ran, by kind and size (in faces or portraits)."""
        return service.engine.stats()

    return routes
