"""Shared fixtures: an isolated cache folder and the shared VGG16 weights when present."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared" / "weights"
VGG16_FILE = SHARED_WEIGHTS / "vgg16_imagenet_notop.h5"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty cache, never the user's."""
    home = tmp_path / "deepface-home"
    monkeypatch.setenv("DEEPFACE_GEN_HOME", str(home))
    return home


@pytest.fixture
def vgg16_file() -> Path:
    if not VGG16_FILE.exists():
        pytest.skip(f"real VGG16 weights not found at {VGG16_FILE} (../shared is absent)")
    return VGG16_FILE
