"""PyTorch eager reference for the pixel loop's speed: the work invert_vgg16.py times.

    /path/to/python-with-torch experiments/torch_reference.py --steps 50

VGG16 (random weights: the cost does not depend on them) at 128 px to conv3_1 after
its ReLU, the relative feature loss ||phi(x) - t||^2 / ||t||^2, Adam on the pixels,
clipped to 0-255, one image. Prints one JSON line: {"ms_per_step": ..., "torch": ...}.
``invert_vgg16.py --torch-python PATH`` runs it in that interpreter, so the project's
environment never needs PyTorch.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

# VGG16's first three blocks up to conv3_1: (convolutions, channels) per block.
BLOCKS = ((2, 64), (2, 128), (1, 256))


def conv3_1_net() -> nn.Sequential:
    layers, channels = [], 3
    for block, (convs, width) in enumerate(BLOCKS):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        if block < len(BLOCKS) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = conv3_1_net().eval().requires_grad_(False)
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)  # Caffe BGR means

    def features(x):
        return net(x.flip(1) - mean)  # RGB 0-255 -> Caffe's BGR, mean subtracted

    photo = torch.rand(1, 3, args.size, args.size) * 255
    target = features(photo)
    norm = (target**2).sum()

    def run() -> float:
        x = (torch.full_like(photo, 127.5) + 10 * torch.randn_like(photo)).requires_grad_()
        optimizer = torch.optim.Adam([x], lr=4.0)
        start = time.perf_counter()
        for _ in range(args.steps):
            optimizer.zero_grad(set_to_none=True)
            loss = ((features(x) - target) ** 2).sum() / norm
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                x.clamp_(0.0, 255.0)
        return time.perf_counter() - start

    run()  # warm the allocator and kernels, untimed
    seconds = min(run() for _ in range(args.repeats))
    print(json.dumps({
        "ms_per_step": 1000 * seconds / args.steps, "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
