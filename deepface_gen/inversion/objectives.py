"""Objectives: per-image losses over a network's outputs, as data.

An :class:`Objective` is a pytree: a tuple of :class:`Term` s, each a registered
loss *kind* and the *layer* it reads (static: they choose the computation) and its
arrays (a weight and whatever the kind needs: a target, a direction). So the render
loop is compiled once per objective *structure*, and a new target, direction or
weight is new data, not a new program. Objectives add and scale like lucid's::

    feature_match("conv3_1", target, 20.0) + attribute_likelihood(values, 1.0)

A new kind is one pure function registered with :func:`loss_kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from flax import struct

Outputs = Mapping[str, jax.Array]
ATTRIBUTES = "attributes"  # pseudo-layer: the attribute logits
IDENTITY = "identity"  # pseudo-layer: an identity network's logits, one per training person
EMBEDDING = "embedding"  # pseudo-layer: an identity network's unit embedding
HEAD_OUTPUTS = frozenset({ATTRIBUTES, IDENTITY, EMBEDDING})  # outputs that are not backbone taps
LossFn = Callable[[jax.Array, Mapping[str, jax.Array]], jax.Array]
_LOSSES: dict[str, LossFn] = {}


def loss_kind(name: str) -> Callable[[LossFn], LossFn]:
    """Register ``fn(layer_output, data) -> (N,)`` as the loss of kind ``name``."""

    def register(fn: LossFn) -> LossFn:
        _LOSSES[name] = fn
        return fn

    return register


@struct.dataclass
class Term:
    """One weighted loss: ``weight * LOSSES[kind](outputs[layer], data)``."""

    kind: str = struct.field(pytree_node=False)
    layer: str = struct.field(pytree_node=False)
    weight: jax.Array
    data: dict[str, jax.Array]

    def __call__(self, outputs: Outputs) -> jax.Array:
        return self.weight * _LOSSES[self.kind](outputs[self.layer], self.data)


@struct.dataclass
class Objective:
    """A sum of terms; a per-image loss (N,) over network outputs."""

    terms: tuple[Term, ...]

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers the objective reads, in order, each once."""
        return tuple(dict.fromkeys(t.layer for t in self.terms))

    def __call__(self, outputs: Outputs) -> jax.Array:
        return sum(term(outputs) for term in self.terms)

    def target(self, layer: str) -> jax.Array | None:
        """The target activations of the objective's ``feature_match`` term at ``layer``
        (what a learned inverter renders directly), or None when it has none."""
        for t in self.terms:
            if t.kind == "feature_match" and t.layer == layer:
                return t.data["target"]
        return None

    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms)

    def __mul__(self, scale: float) -> Objective:
        return Objective(tuple(t.replace(weight=t.weight * scale) for t in self.terms))

    __rmul__ = __mul__


def term(kind: str, layer: str, weight: float, **data: jax.Array) -> Objective:
    """An objective of one term; ``data`` values become float32 arrays."""
    if kind not in _LOSSES:
        raise ValueError(f"unknown objective kind {kind!r}; registered: {', '.join(_LOSSES)}")
    arrays = {k: jnp.asarray(v, jnp.float32) for k, v in data.items()}
    return Objective((Term(kind, layer, jnp.asarray(weight, jnp.float32), arrays),))


def _per_image(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1).astype(jnp.float32)


@loss_kind("feature_match")
def _feature_match(acts: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    diff = _per_image(acts) - _per_image(data["target"])
    return jnp.sum(diff * diff, axis=1) / data["norm"]


@loss_kind("attribute_logits")
def _attribute_logits(logits: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    return -jnp.sum(logits.astype(jnp.float32) * data["direction"], axis=-1)


@loss_kind("attribute_likelihood")
def _attribute_likelihood(logits: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    values = data["values"]
    logits = logits.astype(jnp.float32)
    return jnp.sum(jnp.abs(values) * jax.nn.softplus(-jnp.sign(values) * logits), axis=-1)


@loss_kind("channel")
def _channel(acts: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    # One-hot selection keeps the channel index data, so any unit shares one compile.
    return -jnp.mean(jnp.sum(acts.astype(jnp.float32) * data["one_hot"], axis=-1), axis=(1, 2))


@loss_kind("caricature")
def _caricature(acts: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    return -jnp.sum(data["direction"] * _per_image(acts), axis=1)


@loss_kind("identity_softmax")
def _identity_softmax(logits: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    return -jnp.sum(data["one_hot"] * jax.nn.log_softmax(logits.astype(jnp.float32)), axis=-1)


@loss_kind("embedding_match")
def _embedding_match(embedding: jax.Array, data: Mapping[str, jax.Array]) -> jax.Array:
    return 1.0 - jnp.sum(embedding.astype(jnp.float32) * data["target"], axis=-1)


def feature_match(layer: str, target: jax.Array, weight: float = 1.0) -> Objective:
    """weight * ||phi(x) - t||^2 / ||t||^2 per image (Mahendran & Vedaldi's data term)."""
    target = jnp.asarray(target, jnp.float32)
    norm = jnp.maximum(jnp.sum(_per_image(target) ** 2, axis=1), 1e-8)
    return term("feature_match", layer, weight, target=target, norm=norm)


def attribute_logits(direction: jax.Array, weight: float = 1.0) -> Objective:
    """-weight * <direction, logits>: push requested attributes up (+) or down (-).

    ``direction`` is (40,) or (N, 40); zero entries leave an attribute alone.
    """
    return term("attribute_logits", ATTRIBUTES, weight, direction=direction)


def attribute_likelihood(values: jax.Array, weight: float = 1.0) -> Objective:
    """weight * sum_i -log sigmoid(v_i * logit_i): the classifier should agree with the
    requested values ``v`` ((40,) or (N, 40), 0 = not requested). Unlike
    ``attribute_logits`` it saturates once an attribute is clearly there, so as a
    guidance term beside ``feature_match`` it stops pushing instead of carving textures."""
    return term("attribute_likelihood", ATTRIBUTES, weight, values=values)


def channel(layer: str, index: int, channels: int, weight: float = 1.0) -> Objective:
    """-weight * mean activation of channel ``index`` of ``channels`` (a unit's maximization)."""
    return term("channel", layer, weight, one_hot=jax.nn.one_hot(index, channels))


def caricature(layer: str, reference: jax.Array, weight: float = 1.0) -> Objective:
    """-weight * <max(phi0, 0) / ||phi0||^2, phi(x)>: exaggerate what the layer sees in phi0."""
    reference = _per_image(jnp.maximum(jnp.asarray(reference, jnp.float32), 0.0))
    direction = reference / jnp.maximum(jnp.sum(reference**2, axis=1, keepdims=True), 1e-8)
    return term("caricature", layer, weight, direction=direction)


def identity_softmax(person: jax.Array, num_identities: int, weight: float = 1.0) -> Objective:
    """weight * -log softmax(identity logits)[person]: FaceVis's objective, which raises
    one training person's logit and lowers every other's. ``person`` is (N,) or a scalar;
    it is data (a one-hot), so every person shares one compiled program."""
    one_hot = jax.nn.one_hot(jnp.asarray(person), num_identities)
    return term("identity_softmax", IDENTITY, weight, one_hot=one_hot)


def embedding_match(target: jax.Array, weight: float = 1.0) -> Objective:
    """weight * (1 - cos(embedding, target)) per image: render what an identity
    embedding keeps of a face (``target`` (N, D) or (D,), normalized here)."""
    target = jnp.asarray(target, jnp.float32)
    target = target / jnp.maximum(jnp.linalg.norm(target, axis=-1, keepdims=True), 1e-12)
    return term("embedding_match", EMBEDDING, weight, target=target)
