"""Feature inversion of a real photo with VGG16 ImageNet weights, layer by layer.

    python experiments/invert_vgg16.py [--weights PATH.h5] [--image PATH] [--steps 200]

Default photo: scikit-image's astronaut portrait (pip install scikit-image),
face-cropped and resized to 128x128. For each of conv2_1 ... conv5_1 it
reconstructs the image from that layer's activations alone and reports the
normalized reconstruction error sqrt(||phi(x*) - phi0||^2 / ||phi0||^2)
(Mahendran & Vedaldi), SSIM against the photo, and time per step. Writes a
picture strip and a JSON file.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from deepface_gen import inversion
from deepface_gen.io.images import make_grid, read_image, resize, write_image
from deepface_gen.models.classifier import Backbone
from deepface_gen.models.preprocessing import CAFFE_VGG16
from deepface_gen.models.pretrained import load_keras_h5
from deepface_gen.models.vgg import VGG16, VGGConfig

LAYERS = ("conv2_1", "conv3_1", "conv4_1", "conv5_1")
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


def astronaut_face() -> np.ndarray:
    from skimage import data

    return resize(data.astronaut()[20:260, 130:370], (128, 128))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=str(SHARED))
    parser.add_argument("--image", default=None)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photo = read_image(args.image) if args.image else astronaut_face()
    photo = resize(photo, (128, 128))
    config = VGGConfig("vgg16", VGG16.stages, (), 128)
    params = jax.tree_util.tree_map(np.asarray, load_keras_h5(args.weights, VGG16))
    net = Backbone(config, params, CAFFE_VGG16, "vgg16")
    # Light TV, no jitter, coarse-to-fine pyramid: a faithful reconstruction, not a stylized one.
    settings = replace(inversion.DEFAULT_SETTINGS, steps=args.steps, polish_steps=0,
                       learning_rate=4.0, jitter=0, alpha_weight=0.0, tv_weight=0.01,
                       pyramid_levels=4)  # fmt: skip
    results, strip = {}, [photo]
    for layer in LAYERS:
        target = net.apply(photo[None], taps=(layer,))[layer]
        objective = inversion.feature_match(layer, target, weight=1.0)
        init = inversion.noisy_start(np.full((128, 128, 3), 127.5), 1, jax.random.key(0))
        warm = replace(settings, steps=1, chunk=1)
        inversion.render(net, objective, init, jax.random.key(0), warm)  # compile, untimed
        start = time.perf_counter()
        image, history = inversion.render(net, objective, init, jax.random.key(0), settings)
        seconds = time.perf_counter() - start
        error = float(np.sqrt(history[-1, 0]))
        results[layer] = {
            "normalized_error": error,
            "ssim": ssim(image[0], photo),
            "ms_per_step": 1000 * seconds / args.steps,
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
        {"device": jax.devices()[0].device_kind, "steps": args.steps, "size": 128,
         "layers": results}, indent=2))  # fmt: skip
    print(f"wrote {out / 'invert_vgg16.png'}")


if __name__ == "__main__":
    main()
