"""Nothing broken leaves a trainer: a run that goes non-finite stops before it saves or
exports anything, and no bundle is ever written with NaN or infinite weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from deepface_gen.config import Config
from deepface_gen.data import input_pipeline
from deepface_gen.errors import WeightsError
from deepface_gen.io import bundles
from deepface_gen.training.loop import NonFiniteError, TrainState, checkpoint_steps, run_loop

CONFIG = Config(
    {
        "seed": 0,
        "data": {"source": "synthetic", "size": 16},
        "train": {
            "steps": 8,
            "batch_size": 4,
            "learning_rate": 1e-3,
            "warmup_steps": 1,
            "log_every": 4,
            "checkpoint_every": 2,
        },  # fmt: skip
    }
)


def _diverging_step(bad_from: int):
    """A step whose weights turn NaN from step ``bad_from`` on (as a blown-up update
    would), with a finite loss until the window that holds it is logged."""

    def step(state, batch):
        poisoned = jnp.where(state.step + 1 >= bad_from, jnp.nan, 1.0)
        params = {"w": state.params["w"] * poisoned}
        return state.replace(step=state.step + 1, params=params), {"loss": jnp.sum(params["w"])}

    return step


def _state():
    params = {"w": jnp.ones(3)}
    return TrainState.create(apply_fn=None, params=params, tx=optax.sgd(0.1))


def test_a_run_that_goes_non_finite_stops_and_keeps_the_last_finite_checkpoint(tmp_path):
    source = input_pipeline.make_source("synthetic", "train", 16, 4, 0)
    with pytest.raises(NonFiniteError) as caught:
        run_loop(_state(), _diverging_step(3), source, CONFIG, tmp_path, 0, 8, quiet=True)
    message = str(caught.value)
    # The weights went NaN at step 3; the checkpoint due at step 4 is refused (or the
    # logged loss is caught first), so step 2 is the newest checkpoint on disk.
    assert "non-finite by step 4" in message and "step_00000002" in message
    assert checkpoint_steps(tmp_path) == [2]


def test_a_run_that_stays_finite_is_untouched(tmp_path):
    source = input_pipeline.make_source("synthetic", "train", 16, 4, 0)
    state = run_loop(_state(), _diverging_step(99), source, CONFIG, tmp_path, 0, 8, quiet=True)
    assert int(state.step) == 8 and checkpoint_steps(tmp_path)[-1] == 8


def test_bundles_refuse_non_finite_weights_and_write_nothing(tmp_path):
    arrays = {"layer": {"kernel": np.array([1.0, np.nan, np.inf], np.float32)},
              "steps": np.array([3], np.int32)}  # fmt: skip
    with pytest.raises(WeightsError, match=r"non-finite weights \(2 of 3 values in layer/kernel"):
        bundles.save_bundle(tmp_path / "model", arrays, {"kind": "test"})
    assert not any((tmp_path / "model").glob("*"))
    good = {"layer": {"kernel": np.ones(3, np.float32)}}
    assert bundles.save_bundle(tmp_path / "model", good, {"kind": "test"}).exists()
