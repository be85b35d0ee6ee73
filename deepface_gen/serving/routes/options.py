"""A library request dataclass (``generation.requests``) as what a route reads: a JSON
request model's fields, or a form's fields. The names, types, defaults and descriptions
come from the dataclass, so an option added there is a request field here."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

from fastapi import Form
from pydantic import Field


def model_fields(options: type) -> dict[str, Any]:
    """``create_model`` fields for every option of ``options``."""
    hints = typing.get_type_hints(options)
    return {
        f.name: (hints[f.name], Field(default=f.default, description=f.metadata.get("help")))
        for f in dataclasses.fields(options)
    }


def form_of(options: type, skip: tuple[str, ...] = ()) -> Callable[..., Any]:
    """A dependency (``Depends``) that reads the options of ``options`` but ``skip`` as
    form fields of a multipart request and returns the dataclass."""
    hints = typing.get_type_hints(options)
    parameters = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=Form(f.default, description=f.metadata.get("help")),
            annotation=hints[f.name],
        )
        for f in dataclasses.fields(options)
        if f.name not in skip
    ]

    def read(**values: Any) -> Any:
        return options(**values)

    read.__signature__ = inspect.Signature(parameters, return_annotation=options)  # type: ignore[attr-defined]
    return read
