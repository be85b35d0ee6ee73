"""Shared fixtures: an isolated cache folder, the shared VGG16 weights when present, and
the benchmarks as modules (their arithmetic is tested)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SHARED_WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared" / "weights"
VGG16_FILE = SHARED_WEIGHTS / "vgg16_imagenet_notop.h5"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


# One persistent compilation cache for the whole session (and the next run on this
# machine): identical programs compiled by different tests, or by CLI subprocesses,
# are compiled once. The CLI's own cache switch is off inside tests, so no test moves
# JAX's global cache folder into its temporary home.
# It lives in the machine's cache folder, not the checkout, so a fresh clone on the
# same machine (CI) starts warm; on a new machine the first run compiles everything.
XLA_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deepface-gen-tests" / "xla"
)


def pytest_configure(config):
    from deepface_gen.io.compilation_cache import enable_compilation_cache

    enable_compilation_cache(XLA_CACHE)


@pytest.fixture(autouse=True, scope="module")
def release_compiled_programs():
    """Drop every compiled program after each test file. Each XLA CPU executable holds
    memory maps, and one process that keeps all of the suite's alive passes Linux's
    vm.max_map_count (65,530): the run then dies inside XLA (a segfault or abort while
    compiling or (de)serializing, at whichever test crosses the line). Programs the
    next file needs again come back from the persistent cache above."""
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty cache, never the user's."""
    home = tmp_path / "deepface-home"
    monkeypatch.setenv("DEEPFACE_GEN_HOME", str(home))
    monkeypatch.setenv("DEEPFACE_GEN_COMPILATION_CACHE", "0")
    return home


@pytest.fixture
def vgg16_file() -> Path:
    if not VGG16_FILE.exists():
        pytest.skip(f"real VGG16 weights not found at {VGG16_FILE} (../shared is absent)")
    return VGG16_FILE


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A 16-pixel classifier with random weights and a fitted cGMM (with a 2-component
    mixture and 128 exemplars): fast pipeline checks."""
    import jax

    from deepface_gen.attributes import CELEBA_ATTRIBUTES
    from deepface_gen.cgmm.fit import fit_and_store
    from deepface_gen.data.input_pipeline import SyntheticSource
    from deepface_gen.io import bundles
    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.models.preprocessing import STARTER
    from deepface_gen.models.vgg import AttributeClassifier, HeadConfig, compact_config

    folder = tmp_path_factory.mktemp("tiny") / "model"
    backbone, head = compact_config(8, 2, 16), HeadConfig("pool2", "flatten", 16)
    params = AttributeClassifier(backbone, head).init(
        jax.random.key(0), jax.numpy.zeros((1, 16, 16, 3))
    )["params"]
    manifest = {
        "kind": "attribute_classifier",
        "backbone": backbone.to_json(),
        "head": head.to_json(),
        "preprocessing": STARTER.to_json(),
        "attributes": list(CELEBA_ATTRIBUTES),
        "known_attributes": list(CELEBA_ATTRIBUTES),
    }
    bundles.save_bundle(folder, {"params": params}, manifest)
    source = SyntheticSource(size=16, batch_size=32, seed=0)
    fit_and_store(
        load_classifier(folder),
        source,
        "conv2_1",
        256,
        mixture_components=2,
        mixture_examples=128,
        exemplars=128,
    )
    return folder


def _load_bench(name: str):
    sys.path.insert(0, str(EXPERIMENTS))  # the benchmarks import each other by name
    try:
        spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(EXPERIMENTS))


@pytest.fixture(scope="session")
def load_bench():
    """``load_bench("bench_generate")``: a benchmark script of experiments/ as a module."""
    return _load_bench
