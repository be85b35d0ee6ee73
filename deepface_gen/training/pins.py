"""What a run records of the frozen models it reads, so that it is resumed, exported and
measured against the weights it began with.

A setting such as ``model.classifier=starter`` names whatever the installed release
ships; a run begun under one release and resumed under the next would otherwise train
on against other features without a word. A new run records the sha256 of each frozen
model's weights in its work directory (``pin_frozen``, from a task's ``pin``); a begun
run refuses weights that changed under it (``check_frozen``, from a task's ``prepare``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io import bundles
from deepface_gen.io.images import atomic_write_bytes
from deepface_gen.models.classifier import Classifier
from deepface_gen.training.loop import checkpoint_steps

FROZEN_FILE = "frozen_models.json"


def classifier_weights(setting: str, classifier: Classifier | None) -> dict[str, str | None]:
    """What ``pin_frozen`` records of the frozen classifier ``setting`` names: its
    weights' sha256 (nothing where the run reads none)."""
    return {} if classifier is None else {setting: bundles.params_digest(classifier.manifest)}


def pin_frozen(workdir: str | Path, frozen: Mapping[str, str | None]) -> None:
    """Record in a new run's ``workdir`` the weights of the frozen models it reads
    (each setting that names one, with the sha256 of the weights it named)."""
    record = json.dumps(dict(frozen), indent=1, sort_keys=True).encode()
    atomic_write_bytes(Path(workdir) / FROZEN_FILE, record)


def check_frozen(workdir: str | Path | None, frozen: Mapping[str, str | None]) -> None:
    """Refuse to go on with a begun run in ``workdir`` whose frozen models now name
    other weights than it recorded when it began; a run from before the record, or
    one without a checkpoint yet, passes."""
    path = Path(workdir) / FROZEN_FILE if workdir is not None else None
    if path is None or not path.is_file() or not checkpoint_steps(workdir):
        return
    began = json.loads(path.read_text())
    for setting, digest in frozen.items():
        if setting in began and began[setting] != digest:
            raise DeepFaceGenError(
                f"{workdir} began with other weights for {setting} (sha256 "
                f"{str(began[setting])[:12]}...) than it names now ({str(digest)[:12]}...); "
                "give it the bundle the run began with, or start a new --workdir"
            )
