"""How the server refuses: every mistake in a request is a 4xx whose body is
``{"error": one sentence, "field": the request field it concerns or null}``, and a fault
of the server a 500 that says so in one line, never a trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepface_gen.errors import DeepFaceGenError, DescriptionError, ImageError
from deepface_gen.serving import codecs


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` with a sentence about ``field``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def field_of(message: str, fields: tuple[str, ...]) -> str | None:
    """The request field a library error is about, for errors that do not carry one: its
    first word ("steps must be ..."), or its second after "unknown" ("unknown render 'x'")."""
    words = [w.strip(":'\"").lower() for w in message.split(" ", 2)[:2]]
    named = words[1] if words[0] == "unknown" and len(words) > 1 else words[0]
    return named if named in fields else None


def as_request_error(
    err: DeepFaceGenError, fields: tuple[str, ...], status: int = 400
) -> RequestError:
    """A library error as the refusal of a request with ``fields``."""
    if isinstance(err, codecs.TooLargeError):
        return RequestError(413, str(err), "image")
    if isinstance(err, ImageError):
        return RequestError(status, str(err), "image")
    if isinstance(err, DescriptionError):
        return RequestError(status, str(err), "attrs")
    field = err.field if err.field in fields else field_of(str(err), fields)
    return RequestError(status, str(err), field)


def checked(call: Callable[[], Any], fields: tuple[str, ...]) -> Any:
    """Run a library check, turning its error into a 400 about the field it names."""
    try:
        return call()
    except DeepFaceGenError as err:
        raise as_request_error(err, fields) from None


def install(app: FastAPI) -> None:
    """Answer every refusal, malformed request and fault as one JSON sentence."""

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
