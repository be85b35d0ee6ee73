"""An edit learned per portrait, without pairs: StarGAN's recipe on the cGMM's layer (issue #23).

    python experiments/bench_edit_learned.py [--on-global] [--name NAME] [--bank 8192] \
        [--steps 2000] [--weights asked=0.1,kept=1,adversarial=1,cycle=10,small=1]

The shipped edit moves every portrait by one direction per attribute (the cGMM's), and
``bench_edit_directions.py`` found that about half of a portrait's true change is its own.
This trains a small network T(a, c) -> a' on the layer's activations a of labelled
portraits (their ground-truth labels; CelebA's would do as well: no pairs are used), with
c the change asked for (+1 add, -1 remove, 0 keep, per attribute of ``bench_edit.py``):

* ``asked``, ``kept``: the generating classifier, run from the layer on, reads the
  requested value in a' and the other attributes as it read them in a (it is the model's
  own, not the judge; alone, a move learns to fool it, so it is weighted low);
* ``adversarial``: a critic trained alongside (hinge) tells a' from real activations
  *with the attributes asked for* (it is told the labels), so a move must carry what
  real portraits with them carry;
* ``cycle``: T(T(a, c), -c) returns to a (StarGAN's reconstruction loss), and ``small``:
  an L1 on what the network adds keeps what need not move where it is.

With ``--on-global`` the network adds a per-portrait correction to the shipped move (the
cGMM's focused, calibrated change, from the attributes the classifier reads) instead of
learning the whole move. Every edit is drawn by the default ``change`` render. Measured
on ``bench_edit.py``'s portraits against the true counterfactuals, beside the shipped
move: what the judge sees, the same person, the other attributes, the share nearer the
truth than the input, and the cosine of the move with the true activation change. Each
run adds its editor's rows (``--name``) to ``edit_learned.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from bench_edit import ATTRIBUTES, IdentityMeasure, rms
from bench_edit_directions import activations, global_directions, readings, true_changes
from tqdm.auto import tqdm

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES
from deepface_gen.data import synth
from deepface_gen.generation import defaults, renderers
from deepface_gen.generation.edit import edit_direction, focused_ridge
from deepface_gen.generation.generator import FaceGenerator
from deepface_gen.models.classifier import load_classifier
from deepface_gen.models.vgg import max_pool_2x2

INDICES = np.asarray([ATTRIBUTE_INDEX[name] for name in ATTRIBUTES])
STRENGTHS = (1.0, 1.5)


class ActivationEditor(nn.Module):
    """(N, h, w, c) scaled activations and (N, A) requested changes -> the move (N, h, w, c)."""

    width: int = 64
    blocks: int = 2

    @nn.compact
    def __call__(self, codes: jax.Array, change: jax.Array) -> jax.Array:
        n, h, w, _ = codes.shape
        asked = jnp.broadcast_to(change[:, None, None, :], (n, h, w, change.shape[-1]))
        x = nn.relu(nn.Conv(self.width, (3, 3))(jnp.concatenate([codes, asked], -1)))
        for _ in range(self.blocks):
            x = x + nn.Conv(self.width, (3, 3))(nn.relu(nn.Conv(self.width, (3, 3))(x)))
        out = nn.Conv(codes.shape[-1], (3, 3), kernel_init=nn.initializers.zeros)
        return out(nn.relu(x))


class Critic(nn.Module):
    """Scaled activations (N, h, w, c) and their labels (N, A) of ``ATTRIBUTES`` (-1, 1;
    a move's are the labels it asked for) -> a realism logit per location (N, h/2, w/2):
    real activations *with those attributes*, so a move must carry what real ones do."""

    width: int = 64

    @nn.compact
    def __call__(self, codes: jax.Array, labels: jax.Array) -> jax.Array:
        n, h, w, _ = codes.shape
        told = jnp.broadcast_to(labels[:, None, None, :], (n, h, w, labels.shape[-1]))
        x = jnp.concatenate([codes, told], -1)
        x = nn.leaky_relu(nn.Conv(self.width, (3, 3))(x), 0.2)
        x = nn.leaky_relu(nn.Conv(self.width, (3, 3), strides=2)(x), 0.2)
        return nn.Conv(1, (3, 3))(x)[..., 0]


def logits_from_layer(params: dict, acts: jax.Array) -> jax.Array:
    """The starter classifier's attribute logits (N, 40) from its ``conv3_1`` activations:
    the rest of its forward pass (conv3_2, pool, conv4_1, conv4_2, pool, the head)."""
    conv = params["backbone"]

    def layer(x, name):
        kernel, bias = conv[name]["kernel"], conv[name]["bias"]
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
        return jax.nn.relu(y + bias)

    x = max_pool_2x2(layer(acts, "conv3_2"))
    x = max_pool_2x2(layer(layer(x, "conv4_1"), "conv4_2")).reshape(len(acts), -1)
    hidden = jax.nn.relu(x @ params["head_hidden"]["kernel"] + params["head_hidden"]["bias"])
    return hidden @ params["attribute_head"]["kernel"] + params["attribute_head"]["bias"]


def check_logits_from_layer(generator, count: int = 16) -> None:
    """Refuse a model whose classifier ``logits_from_layer`` does not reproduce (another
    architecture, another layer)."""
    portraits = synth.sample_portraits(jax.random.key(0), count, size=generator.size)
    seen = generator.classifier.outputs(synth.to_uint8(portraits.images), taps=("conv3_1",))
    ours = logits_from_layer(generator.classifier.params, jnp.asarray(seen["conv3_1"]))
    if generator.cgmm.layer != "conv3_1" or not np.allclose(ours, seen["attributes"], atol=1e-3):
        raise SystemExit("logits_from_layer is written for the starter's classifier at conv3_1")


def labelled_activations(generator, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(activations (count, h, w, c) float16, ground-truth labels (count, 40)) of synthetic
    portraits drawn apart from the benchmark's."""
    acts, labels = [], []
    for b in range(count // 256):
        portraits = synth.sample_portraits(jax.random.key(seed + b), 256, size=generator.size)
        flat = activations(generator, synth.to_uint8(portraits.images))
        acts.append(flat.reshape(256, *generator.cgmm.shape).astype(np.float16))
        labels.append(np.asarray(portraits.attributes))
    return np.concatenate(acts), np.concatenate(labels)


def requested_changes(labels: jax.Array, key: jax.Array) -> jax.Array:
    """(N, A): one attribute of ``ATTRIBUTES`` per portrait flipped (+1 add, -1 remove)."""
    pick = jax.random.randint(key, (len(labels),), 0, len(INDICES))
    had = labels[jnp.arange(len(labels)), jnp.asarray(INDICES)[pick]] > 0
    return jax.nn.one_hot(pick, len(INDICES)) * jnp.where(had, -1.0, 1.0)[:, None]


def asked_labels(labels: jax.Array, change: jax.Array) -> jax.Array:
    """(N, A) the labels of ``ATTRIBUTES`` a move asked for: the portraits' own (-1, 1),
    with each requested change (``requested_changes``) in place."""
    return jnp.where(change != 0, change, jnp.sign(labels[:, INDICES]))


def global_moves(shipped: tuple, acts: jax.Array, change: jax.Array) -> jax.Array:
    """(N, h, w, c) the shipped edit's move (``edit.edit_direction``) for the ``change``
    asked (``requested_changes``), from the attributes the classifier reads in ``acts``;
    ``shipped``: (classifier parameters, focused ridge, calibrated gains)."""
    params, ridge, gains = shipped
    current = 2.0 * jax.nn.sigmoid(logits_from_layer(params, acts)) - 1.0
    asked = jnp.zeros_like(current).at[:, INDICES].set(change)
    wanted = jnp.where(asked != 0, asked, current)
    return edit_direction(current, wanted, ridge, gains).reshape(acts.shape)


def train(generator, bank, labels, steps: int, batch: int, weights: dict, seed: int, quiet: bool,
          on_global: bool):  # fmt: skip
    """The editor after ``steps`` of StarGAN's losses (module docstring): a function of
    (activations, change) to the edited activations. ``on_global``: the network learns a
    correction to the shipped move instead of the whole move."""
    scale = jnp.asarray(generator.inverter.code_scale)
    cls_params = generator.classifier.params
    ridge = focused_ridge(generator.conditional_arrays[0], tuple(generator.cgmm.shape),
                          defaults.EDIT_FOCUS)  # fmt: skip
    shipped = (cls_params, ridge, jnp.asarray(generator.edit_gains))
    editor, critic = ActivationEditor(), Critic()
    key = jax.random.key(seed)
    shape = (1, *generator.cgmm.shape)
    e_params = editor.init(key, jnp.zeros(shape), jnp.zeros((1, len(INDICES))))
    c_params = critic.init(key, jnp.zeros(shape), jnp.zeros((1, len(INDICES))))
    adam = optax.adam(1e-4, 0.5, 0.999)  # one for each network; it holds no state itself
    e_state, c_state = adam.init(e_params), adam.init(c_params)

    def edit(params, acts, change):
        """(edited activations, the network's own part of the move)."""
        learned = editor.apply(params, acts / scale, change) * scale
        base = global_moves(shipped, acts, change) if on_global else 0.0
        return jax.nn.relu(acts + base + learned), learned

    def editor_loss(params, c_params, acts, lab, change):
        moved, learned = edit(params, acts, change)
        logits, before = logits_from_layer(cls_params, moved), logits_from_layer(cls_params, acts)
        flipped = jnp.zeros((len(acts), 40)).at[:, INDICES].set(jnp.abs(change))
        target = jnp.where(flipped > 0, (lab > 0) != (flipped > 0), jax.nn.sigmoid(before))
        classified = optax.sigmoid_binary_cross_entropy(logits, target)
        asked = jnp.sum(classified * flipped, 1).mean()
        kept = jnp.sum(classified * (1 - flipped), 1).mean() / 39
        adversarial = -critic.apply(c_params, moved / scale, asked_labels(lab, change)).mean()
        cycle = jnp.abs(edit(params, moved, -change)[0] - acts).mean() / scale.mean()
        small = jnp.abs(learned if on_global else moved - acts).mean() / scale.mean()
        parts = {"asked": asked, "kept": kept, "adversarial": adversarial, "cycle": cycle,
                 "small": small}  # fmt: skip
        return sum(weights[k] * v for k, v in parts.items()), (parts, moved)

    def critic_loss(c_params, real, fake, lab, change):
        own = jnp.sign(lab[:, INDICES])
        return (jax.nn.relu(1 - critic.apply(c_params, real / scale, own)).mean()
                + jax.nn.relu(1 + critic.apply(c_params, fake / scale,
                                               asked_labels(lab, change))).mean())  # fmt: skip

    @jax.jit
    def step(e_params, c_params, e_state, c_state, acts, lab, key):
        change = requested_changes(lab, key)
        grads, (parts, moved) = jax.grad(editor_loss, has_aux=True)(
            e_params, c_params, acts, lab, change
        )
        updates, e_state = adam.update(grads, e_state)
        e_params = optax.apply_updates(e_params, updates)
        c_grads = jax.grad(critic_loss)(c_params, acts, jax.lax.stop_gradient(moved), lab, change)
        updates, c_state = adam.update(c_grads, c_state)
        return e_params, optax.apply_updates(c_params, updates), e_state, c_state, parts

    rng = np.random.default_rng(seed)
    for i in tqdm(range(steps), desc="editor", unit="step", disable=quiet):
        rows = rng.integers(0, len(bank), batch)
        acts, lab = jnp.asarray(bank[rows], jnp.float32), jnp.asarray(labels[rows])
        e_params, c_params, e_state, c_state, parts = step(
            e_params, c_params, e_state, c_state, acts, lab, jax.random.fold_in(key, i)
        )
        if i % 500 == 0 or i == steps - 1:
            tqdm.write(f"{i}: " + ", ".join(f"{k} {float(v):.3f}" for k, v in parts.items()))
    return lambda acts, change: edit(e_params, acts, change)[0]


def measure(generator, judge, identity, editor, n: int, seed: int) -> dict[str, dict]:
    """Mean measures over ``ATTRIBUTES`` on bench_edit's portraits, per move (``shipped``,
    ``learned``) and strength."""
    inverter, shape = generator.inverter, tuple(generator.cgmm.shape)
    rows: dict[str, list[dict]] = {}
    for i, name in enumerate(ATTRIBUTES):
        portraits = synth.sample_portraits(jax.random.key(seed + i), n, generator.size)
        images, index = synth.to_uint8(portraits.images), ATTRIBUTE_INDEX[name]
        own, true_change, had, truth = true_changes(generator, portraits, name)
        shipped = global_directions(generator, readings(generator, images), had, index,
                                    defaults.EDIT_FOCUS, generator.edit_gains)  # fmt: skip
        change = np.zeros((n, len(INDICES)), np.float32)
        change[:, i] = np.where(had, -1.0, 1.0)
        learned = editor(jnp.asarray(own.reshape(n, *shape)), jnp.asarray(change))
        moves = {"shipped": shipped,
                 "learned": np.asarray(learned).reshape(n, -1) - own}  # fmt: skip
        before = inverter.render(jnp.asarray(own.reshape(n, *shape)))
        embedded = identity.model.embed(images)
        others = [CELEBA_ATTRIBUTES.index(a) for a in judge.known_attributes if a != name]
        read_input = judge.outputs(images)["probabilities"]
        for label, move in moves.items():
            norms = np.linalg.norm(move, axis=1) * np.linalg.norm(true_change, axis=1)
            cosine = np.sum(move * true_change, axis=1) / np.maximum(norms, 1e-9)
            for strength in STRENGTHS:
                target = np.maximum(own + strength * move, 0.0).reshape(n, *shape)
                after = inverter.render(jnp.asarray(target))
                drawn = renderers.paste_drawn_change(jnp.asarray(images, jnp.float32),
                                                     before, after)  # fmt: skip
                edited = np.round(np.asarray(drawn)).astype(np.uint8)
                read = judge.outputs(edited)["probabilities"]
                same = identity.cosine(embedded, edited) >= identity.threshold
                rows.setdefault((label, f"{strength:g}"), []).append({
                    "judge_sees_requested_edit": float(np.mean(
                        (read[:, CELEBA_ATTRIBUTES.index(name)] > 0.5) == ~had)),
                    "nearer_truth_than_input": float(
                        np.mean(rms(edited, truth) < rms(images, truth))),
                    "identity_verified_edit": float(np.mean(same)),
                    "others_moved_edit": float(np.abs(read - read_input)[:, others].mean()),
                    "cosine_to_true_change": float(np.mean(cosine[norms > 0])),
                })  # fmt: skip
    means: dict[str, dict] = {}
    for (label, strength), per in rows.items():
        means.setdefault(label, {})[strength] = {
            key: float(np.mean([r[key] for r in per])) for key in per[0]
        }
    return means


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="starter")
    parser.add_argument("--judge", default="experiments/models/independent")
    parser.add_argument("--bank", type=int, default=8192, help="labelled portraits to learn from")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=16, help="portraits per attribute")
    parser.add_argument("--seed", type=int, default=5150, help="bench_edit.py's portraits")
    parser.add_argument("--weights", default="asked=0.1,kept=1,adversarial=1,cycle=10,small=1",
                        help="loss weights, NAME=VALUE,...")  # fmt: skip
    parser.add_argument(
        "--on-global",
        action="store_true",
        help="learn a correction to the shipped move, not the whole move",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="the editor's row (default: whole or "
        "on-global); rows of other names already in the JSON are kept",
    )
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(","))}
    name = args.name or ("on-global" if args.on_global else "whole")
    generator = FaceGenerator.load(args.model)
    check_logits_from_layer(generator)
    began = time.perf_counter()
    bank, labels = labelled_activations(generator, args.bank, seed=99000)
    print(f"bank of {len(bank)} in {time.perf_counter() - began:.0f} s", flush=True)
    began = time.perf_counter()
    editor = train(
        generator, bank, labels, args.steps, args.batch, weights, 0, args.quiet, args.on_global
    )
    seconds = time.perf_counter() - began
    means = measure(generator, load_classifier(args.judge), IdentityMeasure(), editor,
                    args.n, args.seed)  # fmt: skip
    for label, per in means.items():
        for strength, mean in per.items():
            print(f"{label}@{strength}", json.dumps({k: round(v, 3) for k, v in mean.items()}))
    out = Path(args.out) / "edit_learned.json"
    payload = json.loads(out.read_text()) if out.exists() else {"editors": {}}
    payload.update({"n": args.n, "seed": args.seed, "attributes": list(ATTRIBUTES),
                    "render": "change", "shipped": means["shipped"]})  # fmt: skip
    payload["editors"][name] = {
        "moves": means["learned"], "bank": args.bank, "steps": args.steps,
        "batch": args.batch, "weights": weights, "on_global": args.on_global,
        "train_seconds": seconds,
    }  # fmt: skip
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
