"""POST ``/api/edit`` and ``/api/score``: what the server does with uploaded portraits
(each brought to the model's layout first, as the command line does: ``align`` and
``face`` as its ``--align`` and ``--face``)."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from deepface_gen import checks
from deepface_gen.generation.requests import EditOptions
from deepface_gen.serving import codecs
from deepface_gen.serving.jobs import EditJob
from deepface_gen.serving.refusals import RequestError, checked
from deepface_gen.serving.routes.options import form_of
from deepface_gen.serving.service import Service

# The edit's own options come from the library's EditOptions (its layer is the cGMM's
# own: a client does not choose it).
EDIT_FORM = form_of(EditOptions, skip=("layer",))
EDIT_FIELDS = ("image", "attrs", "strength", "sweep", "align", "face",
               *(f.name for f in dataclasses.fields(EditOptions) if f.name != "layer"))  # fmt: skip


def strengths_of(service: Service, strength: float | None, sweep: str | None) -> tuple[float, ...]:
    """One strength (the default where none is given), or a sweep's strengths, checked."""
    if sweep:
        limit = service.limits.max_strengths
        return checked(lambda: checks.sweep(sweep, "sweep", limit), EDIT_FIELDS)
    value = service.generator.edit_strength if strength is None else strength
    limit = checks.MAX_EDIT_STRENGTH
    return (checked(lambda: checks.real("strength", value, -limit, limit), EDIT_FIELDS),)


def router(service: Service) -> APIRouter:
    """POST ``/api/edit`` and ``/api/score``."""
    routes = APIRouter()
    _add_edit(routes, service)
    _add_score(routes, service)
    return routes


def _add_edit(routes: APIRouter, service: Service) -> None:
    """POST ``/api/edit``."""
    generator = service.generator

    @routes.post("/api/edit", response_model=None)
    async def edit(
        request: Request,
        image: Annotated[UploadFile, File()],
        attrs: Annotated[str, Form()],
        options: Annotated[EditOptions, Depends(EDIT_FORM)],
        strength: Annotated[float | None, Form()] = None,
        sweep: Annotated[str | None, Form()] = None,
        align: Annotated[str, Form()] = "auto",
        face: Annotated[int, Form(ge=0, le=99)] = 0,
        paste: Annotated[bool, Form()] = True,
        format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
    ) -> dict | Response:
        """Alter a portrait (the upload's face, aligned): one image per strength
        (``sweep``: a strip), base64 PNGs or (``?format=png``) one strip PNG; with
        ``paste``, also the upload with the last (a sweep's strongest) strength's edit put
        back into it at its full resolution (``photo``; null where the upload is the
        face's square itself)."""
        started = time.perf_counter()
        strengths = strengths_of(service, strength, sweep)
        service.check_steps(options.steps)
        spec, used_render = checked(
            lambda: generator.check_edit(attrs, **dataclasses.asdict(options)), EDIT_FIELDS
        )
        picture, name = await service.read_upload(image, EDIT_FIELDS)
        portrait = await service.portrait(picture, name, align, face, EDIT_FIELDS)
        job = EditJob(portrait.crop, name, attrs, strengths, options)
        result = await service.wait(service.submit(request, "edit", job, job.group, 1))
        if format == "png":
            captions = ["input"] + [f"s={v:g}" for v in strengths]
            strip = [portrait.crop, *result.images]
            title = f'edit "{attrs}" at strength s ({used_render})'
            return Response(
                codecs.grid_png(strip, columns=len(strip), captions=captions, title=title),
                media_type="image/png",
            )
        # Only where there is a photo around the face to put the edit back into.
        paste = paste and not portrait.is_whole(picture)
        pasted = portrait.paste(picture, result.images[-1]) if paste else None
        return {
            "input": codecs.base64_pngs([portrait.crop])[0],
            "images": codecs.base64_pngs(result.images),
            "photo": codecs.base64_pngs([pasted])[0] if paste else None,
            "face": portrait.face.to_json() if portrait.face else None,
            "note": portrait.note,
            "strengths": list(strengths),
            "attributes": dict(spec.values),
            "render": used_render,
            "warning": result.warning,
            "seconds": round(time.perf_counter() - started, 4),
        }


def _add_score(routes: APIRouter, service: Service) -> None:
    """POST ``/api/score``."""
    generator, limits = service.generator, service.limits

    @routes.post("/api/score")
    async def score(
        request: Request,
        image: Annotated[list[UploadFile], File()],
        align: Annotated[str, Form()] = "auto",
        face: Annotated[int, Form(ge=0, le=99)] = 0,
    ) -> dict:
        """Attribute probabilities of each uploaded image (its face, aligned), for the
        attributes the model knows, with its domain distance and, where it lies outside
        what the model was trained on, a warning that its scores are unreliable."""
        started = time.perf_counter()
        if len(image) > limits.max_files:
            raise RequestError(
                400, f"{len(image)} images; this server scores at most {limits.max_files}", "image"
            )
        pictures = [await service.read_upload(upload, EDIT_FIELDS) for upload in image]
        faces = [
            (await service.portrait(p, name, align, face, EDIT_FIELDS)).crop for p, name in pictures
        ]
        last = len(faces) - 1
        futures = [
            service.submit(request, "score", face, "score", 1, last=i == last)
            for i, face in enumerate(faces)
        ]
        results = [await service.wait(f) for f in futures]
        index = {name: i for i, name in enumerate(generator.classifier.attributes)}
        known = generator.known_attributes
        return {
            "results": [
                {
                    "name": name,
                    "probabilities": {
                        a: round(float(result.probabilities[index[a]]), 4) for a in known
                    },
                    "domain_distance": round(result.distance, 3),
                    "warning": result.warning(name),
                }
                for (_, name), result in zip(pictures, results, strict=True)
            ],
            "seconds": round(time.perf_counter() - started, 4),
        }
