"""The web page and what a client asks before working: health, the attribute
vocabulary with the server's limits and defaults, and the engine's batch statistics."""

from __future__ import annotations

from pathlib import Path

import jax
from fastapi import APIRouter
from fastapi.responses import FileResponse

from deepface_gen.attributes import CELEBA_ATTRIBUTES, aliases_of
from deepface_gen.generation import defaults
from deepface_gen.serving.service import Service

STATIC = Path(__file__).parents[1] / "static"  # the web page: HTML, CSS, JavaScript


def _device() -> str:
    device = jax.devices()[0]
    return f"{device.platform}: {getattr(device, 'device_kind', device.platform)}"


def router(service: Service) -> APIRouter:
    """GET ``/``, ``/api/health``, ``/api/attributes`` and ``/api/stats``."""
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

    @routes.get("/api/stats")
    async def stats() -> dict:
        """Batches the engine ran, by kind and size (in faces or portraits)."""
        return service.engine.stats()

    return routes
