"""Training past one machine: two processes on this machine's CPU, joined through JAX's
distributed runtime, train exactly as one process does, and resume exactly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from deepface_gen import hosts
from deepface_gen.config import load_config
from deepface_gen.data.export import export_synthetic
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io import bundles
from deepface_gen.training import loop
from deepface_gen.training.classifier import TASK, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.size=16", "model.width=4", "model.depth=2", "model.feature_layer=pool2",
        "model.hidden=8", "train.steps=6", "train.batch_size=8", "train.balance_batches=1",
        "train.log_every=1", "train.checkpoint_every=3"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_process_options_are_checked_before_anything_joins():
    hosts.initialize(None)  # one process: nothing to do
    with pytest.raises(DeepFaceGenError, match="need --coordinator"):
        hosts.initialize(None, 2, 1)
    with pytest.raises(DeepFaceGenError, match="must be HOST:PORT"):
        hosts.initialize("localhost", 2, 0)
    with pytest.raises(DeepFaceGenError, match="needs --num-processes N and --process-id K"):
        hosts.initialize("127.0.0.1:1234", 2, None)
    with pytest.raises(DeepFaceGenError, match="--process-id 2 must be from 0 to 1"):
        hosts.initialize("127.0.0.1:1234", 2, 2)
    assert hosts.share(8) is None and hosts.is_main()


def launch(workdir: Path, port: int, process: int, *extra: str) -> subprocess.Popen:
    """One process of a two-process `deepface-gen train`, with one CPU device (the
    test's own compilation cache: the resumed run compiles nothing again)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    command = [sys.executable, "-m", "deepface_gen.cli.main", "train", "--config",
               "configs/starter.py", "--workdir", str(workdir), "--quiet", "--coordinator",
               f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(process),
               "--join-timeout", "120", *extra, *TINY]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def run_both(workdir: Path, *extra: str) -> None:
    port = free_port()
    processes = [launch(workdir, port, k, *extra) for k in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]


def test_two_processes_train_as_one_and_a_checkpoint_resumes_anywhere(tmp_path):
    """Two processes run 3 steps and stop after a checkpoint; one process resumes it to 6:
    the same parameters as 6 steps in one process (the global batch is the same however
    many processes feed it). experiments/bench_multihost.py also resumes in two."""
    # A CelebA-format folder: the processes read files (the renderer, slow to compile in a
    # fresh process, ran once, here).
    folder = tmp_path / "faces"
    export_synthetic(folder, 64, size=16, seed=3, quiet=True)
    data = [f"data.source=celeba:{folder}"]
    work = tmp_path / "two"
    run_both(work, "--max-steps", "3", *data)
    assert not (work / "model").exists()
    config = load_config(ROOT / "configs/starter.py", TINY + data, loop.defaults_of(TASK))
    resumed = train_and_evaluate(config, work, resume=True, quiet=True)
    alone = train_and_evaluate(config, tmp_path / "one", quiet=True)  # uninterrupted
    arrays_resumed, _ = bundles.load_bundle(resumed)
    arrays_alone, _ = bundles.load_bundle(alone)
    flat = flatten_dict(arrays_resumed["params"], sep="/")
    for name, value in flatten_dict(arrays_alone["params"], sep="/").items():
        np.testing.assert_allclose(flat[name], value, rtol=2e-4, atol=2e-5, err_msg=name)
    # Only process 0 wrote metrics: one line a step, none twice.
    steps = [json.loads(line)["step"] for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    (sealed,) = (work / "checkpoints").glob("*3/" + loop.SEAL_FILE)  # sealed once, by process 0
    assert json.loads(sealed.read_text())


def fitted(model: Path) -> tuple[dict, dict, float]:
    """The bundle's cGMM arrays, its mixture's arrays and its domain threshold."""
    from deepface_gen.cgmm import stored
    from deepface_gen.models.classifier import load_classifier

    classifier = load_classifier(model)
    cgmm = stored.load_cgmm(classifier)
    return cgmm.arrays(), cgmm.mixture.arrays(), stored.domain_threshold(classifier)


def test_two_processes_fit_the_cgmm_one_process_fits(tiny_bundle, tmp_path):
    """`fit` in two processes, each reading its half of every batch (the last batch's
    valid rows all in process 0: 104 = 6 x 16 + 8), stores the cGMM, mixture and domain
    threshold one process fits."""
    import shutil

    from deepface_gen import cli

    folder = tmp_path / "faces"
    export_synthetic(folder, 128, size=16, seed=5, quiet=True)
    one, two = (shutil.copytree(tiny_bundle, tmp_path / name) for name in ("one", "two"))
    fit = ["fit", "--layer", "conv2_1", "--batch-size", "16", "--n", "104", "--pca-examples",
           "104", "--mixture", "2", "--mixture-examples", "104", "--data", f"celeba:{folder}",
           "--quiet"]  # fmt: skip
    assert cli.main([*fit, "--model", str(one)]) == 0
    port, env = free_port(), {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    join = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--join-timeout", "120"]
    command = [sys.executable, "-m", "deepface_gen.cli.main", *fit, "--model", str(two), *join]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    processes = [
        subprocess.Popen([*command, "--process-id", str(k)], cwd=ROOT, env=env, **pipes)
        for k in range(2)
    ]
    outs = [process.communicate(timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outs, strict=True):
        assert process.returncode == 0, err[-3000:]
    said = [out for out, _ in outs]
    assert "fitted cGMM at conv2_1" in said[0] and "fitted" not in said[1]  # process 0 says it
    (cgmm_one, mixture_one, threshold_one), (cgmm_two, mixture_two, threshold_two) = map(
        fitted, (one, two)
    )

    # Directions of nearly equal spread may turn within their plane by float error:
    # compare the covariance the basis spans.
    def spanned(arrays: dict) -> np.ndarray:
        return arrays["components"].T @ (
            arrays["component_std"][:, None] ** 2 * arrays["components"]
        )

    np.testing.assert_allclose(
        spanned(cgmm_two), spanned(cgmm_one), rtol=0, atol=1e-4 * np.abs(spanned(cgmm_one)).max()
    )
    # A spread near 0 is the square root of a difference of float sums: compare variances.
    for name in ("component_std", "group_std"):
        cgmm_one[name], cgmm_two[name] = cgmm_one[name] ** 2, cgmm_two[name] ** 2
    # Means, spreads and the basis are stored in float16: one rounding step apart at most.
    for name, value in cgmm_one.items():
        if name != "components":
            scale = max(float(np.abs(value).max()), 1e-6)
            np.testing.assert_allclose(
                cgmm_two[name], value, rtol=3e-3, atol=1e-4 * scale, err_msg=name
            )
    for name, value in mixture_one.items():
        np.testing.assert_allclose(mixture_two[name], value, rtol=1e-3, atol=1e-4, err_msg=name)
    assert threshold_two == pytest.approx(threshold_one, rel=1e-4)


def test_a_process_whose_peer_never_comes_stops_instead_of_hanging(tmp_path):
    env = {**os.environ, "DEEPFACE_GEN_COMPILATION_CACHE": "0"}
    command = [sys.executable, "-m", "deepface_gen.cli.main", "train", "--config",
               "configs/starter.py", "--workdir", str(tmp_path / "w"), "--quiet",
               "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2",
               "--process-id", "0", "--join-timeout", "5", *TINY]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and time.perf_counter() - began < 90
    assert "joining the run at 127.0.0.1" in done.stderr
    assert "DEADLINE_EXCEEDED" in done.stderr or "could not join" in done.stderr
