"""Feature inversion of a real photo with VGG16 ImageNet weights, layer by layer.

    python experiments/invert_vgg16.py [--weights PATH.h5] [--image PATH] [--steps 200]

Default photo: scikit-image's astronaut portrait (experiments/photos/astronaut.jpg),
face-cropped and resized to 128x128. For each of conv2_1 ... conv5_1 it
reconstructs the image from that layer's activations alone and reports the
normalized reconstruction error sqrt(||phi(x*) - phi0||^2 / ||phi0||^2)
(Mahendran & Vedaldi), SSIM against the photo, and time per step. Writes a
picture strip and a JSON file.

It also times the pixel loop on the same work (VGG16 at 128 px to conv3_1, the
feature loss, Adam on the pixels, no priors, one image), each warm (compiled
beforehand, and the timed run is checked to compile nothing): the render loop in both
of its forms (one jitted call a step; chunks of steps inside one jitted fori_loop),
the plainest JAX loop (a jitted step per step, the reference), and, with
``--torch-python PATH`` (an interpreter with PyTorch), PyTorch eager
(``torch_reference.py``). ``--speed-only`` stops there.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from deepface_gen import inversion
from deepface_gen.analysis.compiles import count_compiles
from deepface_gen.inversion.render import loop_form
from deepface_gen.io.images import make_grid, read_image, resize, write_image
from deepface_gen.models.classifier import Backbone
from deepface_gen.models.preprocessing import CAFFE_VGG16
from deepface_gen.models.pretrained import load_keras_h5
from deepface_gen.models.vgg import VGG16, VGGConfig, init_params

LAYERS = ("conv2_1", "conv3_1", "conv4_1", "conv5_1")
# Light TV, no jitter, coarse-to-fine pyramid: a faithful reconstruction, not a stylized one.
SWEEP_SETTINGS = inversion.RenderSettings(
    polish_steps=0, learning_rate=4.0, jitter=0, alpha_weight=0.0, tv_weight=0.01, pyramid_levels=4
)
SHARED = Path(__file__).resolve().parents[2] / "shared/weights/vgg16_imagenet_notop.h5"


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over 7x7 windows on luminance (Wang et al. 2004 constants)."""
    from scipy.ndimage import uniform_filter

    def lum(x):
        return x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    x, y = lum(a), lum(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = uniform_filter(x, 7), uniform_filter(y, 7)
    vx = uniform_filter(x * x, 7) - mx * mx
    vy = uniform_filter(y * y, 7) - my * my
    cxy = uniform_filter(x * y, 7) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s[3:-3, 3:-3].mean())


def reference_loop(net: Backbone, layer: str, target, steps: int, rate: float):
    """The plainest correct loop: Adam on the pixels of ||phi(x) - t||^2 / ||t||^2,
    one jitted step per step, driven from Python. Returns a function of (pixels) ->
    pixels."""
    import jax.numpy as jnp
    import optax

    tx = optax.adam(rate)
    norm = jnp.sum(target**2)

    def loss(x):
        acts = net.module.apply({"params": net.params}, net.preprocessing.apply(x), taps=(layer,))
        return jnp.sum((acts[layer] - target) ** 2) / norm

    @jax.jit
    def step(x, opt_state):
        updates, opt_state = tx.update(jax.grad(loss)(x), opt_state, x)
        return jnp.clip(optax.apply_updates(x, updates), 0.0, 255.0), opt_state

    def run(x):
        x = jnp.asarray(x)
        opt_state = tx.init(x)
        for _ in range(steps):
            x, opt_state = step(x, opt_state)
        return jax.block_until_ready(x)

    return run


def torch_eager(python: str, steps: int) -> dict:
    """PyTorch eager on the same work, run by ``python`` (an interpreter with torch)."""
    script = Path(__file__).with_name("torch_reference.py")
    done = subprocess.run(
        [python, str(script), "--steps", str(steps)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(fn) -> tuple[float, int]:
    """(seconds of one run, backend compiles during it)."""
    with count_compiles() as compiles:
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
    return seconds, compiles.count


def speed_comparison(
    net: Backbone, photo: np.ndarray, steps: int, torch_python: str | None, rounds: int = 3
) -> dict:
    """ms per step on the same work (best of ``rounds``): the render loop in each form,
    the render loop with the sweep's settings (pyramid, priors), the plain reference,
    and PyTorch eager when an interpreter with it is given."""
    layer, chunk = "conv3_1", 25
    target = net.apply(photo[None], taps=(layer,))[layer]
    init = inversion.noisy_start(np.full((128, 128, 3), 127.5), 1, jax.random.key(0))
    objective = inversion.feature_match(layer, target, weight=1.0)
    same_work = inversion.RenderSettings(
        steps=steps, polish_steps=0, learning_rate=4.0, jitter=0, alpha_weight=0.0,
        tv_weight=0.0, pyramid_levels=1, chunk=chunk,
    )  # fmt: skip
    sweep = replace(SWEEP_SETTINGS, steps=steps, chunk=chunk)
    reference = reference_loop(net, layer, target, steps, 4.0)

    def render(settings):
        return lambda: inversion.render(net, objective, init, jax.random.key(0), settings)

    runs = {
        "render_steps": render(replace(same_work, loop="steps")),
        "render_chunks": render(replace(same_work, loop="chunks")),
        "render_sweep_settings": render(sweep),
        "reference_loop": lambda: reference(init),
    }
    result = {"auto_form": loop_form(same_work)}
    for fn in runs.values():
        fn()  # compile (and warm the caches), untimed
    best = {name: float("inf") for name in runs}
    compiles = dict.fromkeys(runs, 0)
    for _ in range(rounds):  # round robin, so a slow spell of the machine hits every loop
        for name, fn in runs.items():
            seconds, count = timed(fn)
            best[name], compiles[name] = min(best[name], seconds), compiles[name] + count
    for name in runs:
        result[name] = {"ms_per_step": 1000 * best[name] / steps,
                        "compiles_when_timed": compiles[name]}  # fmt: skip
        print(f"{name}: {result[name]['ms_per_step']:.1f} ms/step ({compiles[name]} compiles)")
    auto = result[f"render_{result['auto_form']}"]["ms_per_step"]
    result["ratio_render_to_reference"] = auto / result["reference_loop"]["ms_per_step"]
    print(f"render ({result['auto_form']}) / reference = {result['ratio_render_to_reference']:.2f}")
    if torch_python:
        result["pytorch_eager"] = torch_eager(torch_python, steps)
        result["ratio_render_to_pytorch"] = auto / result["pytorch_eager"]["ms_per_step"]
        print(f"PyTorch eager: {result['pytorch_eager']['ms_per_step']:.1f} ms/step; "
              f"render / PyTorch = {result['ratio_render_to_pytorch']:.2f}")  # fmt: skip
    return result


def astronaut_face() -> np.ndarray:
    """scikit-image's astronaut (kept in experiments/photos), face-cropped, 128x128."""
    photo = read_image(Path(__file__).with_name("photos") / "astronaut.jpg")
    return resize(photo[20:260, 130:370], (128, 128))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=str(SHARED))
    parser.add_argument("--image", default=None)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--speed-steps", type=int, default=100, help="steps per timed run")
    parser.add_argument("--speed-only", action="store_true", help="only the loop comparison")
    parser.add_argument(
        "--torch-python", default=None, help="an interpreter with PyTorch, for the eager reference"
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="random VGG16 weights (timing needs no file)"
    )
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photo = read_image(args.image) if args.image else astronaut_face()
    photo = resize(photo, (128, 128))
    config = VGGConfig("vgg16", VGG16.stages, (), 128)
    if args.random_weights:
        params = init_params(config, jax.random.key(0))
    else:
        params = jax.tree_util.tree_map(np.asarray, load_keras_h5(args.weights, VGG16))
    net = Backbone(config, params, CAFFE_VGG16, "vgg16")
    settings = replace(SWEEP_SETTINGS, steps=args.steps)
    speed = speed_comparison(net, photo, args.speed_steps, args.torch_python)
    device = jax.devices()[0].device_kind
    name = f"invert_speed_{jax.devices()[0].platform}.json"
    (out / name).write_text(json.dumps({"device": device, "speed": speed}, indent=2))
    print(f"wrote {out / name}")
    if args.speed_only:
        return
    results, strip = {}, [photo]
    for layer in LAYERS:
        target = net.apply(photo[None], taps=(layer,))[layer]
        objective = inversion.feature_match(layer, target, weight=1.0)
        init = inversion.noisy_start(np.full((128, 128, 3), 127.5), 1, jax.random.key(0))
        warm = replace(settings, steps=1)  # the same program: step counts are data
        inversion.render(net, objective, init, jax.random.key(0), warm)  # compile, untimed
        with count_compiles() as compiles:
            start = time.perf_counter()
            image, history = inversion.render(net, objective, init, jax.random.key(0), settings)
            seconds = time.perf_counter() - start
        error = float(np.sqrt(history[-1, 0]))
        results[layer] = {
            "normalized_error": error,
            "ssim": ssim(image[0], photo),
            "ms_per_step": 1000 * seconds / args.steps,
            "compiles_when_timed": compiles.count,
        }
        print(
            f"{layer}: error {error:.3f}  SSIM {results[layer]['ssim']:.3f}  "
            f"{results[layer]['ms_per_step']:.0f} ms/step"
        )
        strip.append(np.round(image[0]).astype(np.uint8))
    write_image(
        out / "invert_vgg16.png", make_grid(strip, columns=len(strip), captions=["photo", *LAYERS])
    )
    (out / "invert_vgg16.json").write_text(json.dumps(
        {"device": device, "steps": args.steps, "size": 128,
         "layers": results, "speed": speed}, indent=2))  # fmt: skip
    print(f"wrote {out / 'invert_vgg16.png'}")


if __name__ == "__main__":
    main()
