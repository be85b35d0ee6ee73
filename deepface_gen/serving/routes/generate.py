"""POST ``/api/generate``: faces for a description, batched with concurrent requests
where one pass of the learned inverter draws them."""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ConfigDict, Field, create_model

from deepface_gen import checks
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.generation.generator import GenerateOptions, GenerationPlan
from deepface_gen.io.images import resize
from deepface_gen.serving import codecs
from deepface_gen.serving.refusals import checked
from deepface_gen.serving.routes.options import model_fields
from deepface_gen.serving.service import Service

# The options of ``deepface-gen generate``, by the same names (``--vae`` excepted: a
# server does not open paths its clients name); strict: true is not 1, "4" not 4.
GenerateRequest = create_model(
    "GenerateRequest",
    __config__=ConfigDict(extra="forbid", strict=True),
    attrs=(str | dict[str, float], Field(description='e.g. "smiling woman" or {"Smiling": 1}')),
    **model_fields(GenerateOptions),
    size=(int | None, Field(default=None, description="side of the returned images")),
)
GENERATE_FIELDS = tuple(GenerateRequest.model_fields)


def plan_for(service: Service, body: GenerateRequest) -> GenerationPlan:
    """The request checked against the model and this server's limits."""
    limits = service.limits
    options = body.model_dump()
    size = options.pop("size")
    if size is not None:
        checks.whole("size", size, 16, limits.max_size)
    service.check_steps(body.steps)
    plan = service.generator.plan(options.pop("attrs"), **options)
    if plan.faces > limits.max_faces:
        raise DeepFaceGenError(
            f"n asks for {plan.faces} faces; this server draws at most {limits.max_faces} "
            "per request"
        )
    return plan


def router(service: Service) -> APIRouter:
    """POST ``/api/generate``."""
    routes = APIRouter()

    @routes.post("/api/generate", response_model=None)
    async def generate(
        request: Request,
        body: GenerateRequest,
        format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
    ) -> dict | Response:
        """Faces for a description: base64 PNGs (``?format=png``: one grid PNG)."""
        started = time.perf_counter()
        plan = checked(lambda: plan_for(service, body), GENERATE_FIELDS)
        group = "one-pass" if plan.one_pass else None
        future = service.submit(request, "generate", plan, group, plan.faces)
        faces = await service.wait(future)
        if body.size and body.size != faces.shape[1]:
            faces = np.stack([resize(face, (body.size, body.size)) for face in faces])
        if format == "png":
            description = (
                body.attrs
                if isinstance(body.attrs, str)
                else ", ".join(f"{name} {value:+g}" for name, value in body.attrs.items())
            )
            png = codecs.grid_png(faces, captions=plan.captions(), title=plan.title(description))
            return Response(png, media_type="image/png")
        return {
            "images": codecs.base64_pngs(faces),
            "attributes": [dict(spec.values) for spec in plan.specs],
            "render": "vae" if plan.backend == "vae" else plan.render,
            "seconds": round(time.perf_counter() - started, 4),
        }

    return routes
