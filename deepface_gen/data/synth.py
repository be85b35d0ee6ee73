"""Procedural portraits with ground-truth CelebA attributes (DESIGN.md section 7).

No labelled face dataset can be downloaded where this project is built, so it
draws its own. A portrait is ``render(identity, attributes, nuisance)``:

* ``identity``: who the person is (face proportions, feature placement, skin,
  eye colour, hair shade and length preference), fixed across their photos;
* ``attributes``: the CelebA attribute vector, (40,) in [-1, 1]; every drawn
  attribute changes only its own part of the picture, so a counterfactual is
  the same call with one entry flipped;
* ``nuisance``: the photo, not the person (pose, light, background, clothes
  colour, sensor noise).

Shapes are signed distance fields composited back to front with analytic
anti-aliasing, lit with a Lambert term on an ellipsoid head. Everything is a
pure JAX function of arrays, ``vmap``-ed over the batch and jit-compiled per
image size, so thousands of portraits a second come out of a laptop CPU.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX, CELEBA_ATTRIBUTES, NUM_ATTRIBUTES

# Attributes the renderer draws; the others get plausible labels but no pixels.
UNDRAWN_ATTRIBUTES: tuple[str, ...] = ("Attractive",)
DRAWN_ATTRIBUTES: tuple[str, ...] = tuple(
    a for a in CELEBA_ATTRIBUTES if a not in UNDRAWN_ATTRIBUTES
)
# Attributes that change from photo to photo of one person; the rest are theirs.
TRANSIENT_ATTRIBUTES: tuple[str, ...] = (
    "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Blurry",
    "Wearing_Earrings", "Wearing_Necklace", "Wearing_Necktie", "Wearing_Lipstick",
    "Heavy_Makeup", "Rosy_Cheeks", "Bangs", "Attractive",
)  # fmt: skip

_A = ATTRIBUTE_INDEX

_HAIR_RGB = {
    "Black_Hair": (28, 24, 24),
    "Blond_Hair": (222, 186, 118),
    "Brown_Hair": (104, 66, 40),
    "Gray_Hair": (178, 176, 174),
    "other": (142, 58, 30),  # auburn: hair with none of the four colour labels
}
_EYE_RGB = np.array(
    [[92, 56, 30], [60, 110, 160], [70, 120, 70], [120, 100, 60], [110, 120, 130]], np.float32
)
_SKIN_DARK = np.array([96, 62, 42], np.float32)
_SKIN_LIGHT = np.array([238, 200, 172], np.float32)
_PALE = np.array([246, 232, 226], np.float32)


class Identity(NamedTuple):
    """Who the person is; each field has shape (N,) or (N, k)."""

    face_width: jax.Array  # half-width of the face ellipse
    face_height: jax.Array  # half-height
    jaw_taper: jax.Array  # how much the face narrows towards the chin
    skin_tone: jax.Array  # 0 dark .. 1 light
    eye_colour: jax.Array  # (N, 3) RGB
    eye_spacing: jax.Array  # x offset of each eye
    eye_height: jax.Array  # y of the eyes
    mouth_height: jax.Array  # y of the mouth
    nose_length: jax.Array
    brow_gap: jax.Array  # eyebrow height above the eye
    hair_shade: jax.Array  # multiplicative variation of the hair colour
    long_hair_pref: jax.Array  # 0..1, compared with a sex-dependent threshold
    texture_seed: jax.Array  # offsets the hash for stubble and hair strands


class Nuisance(NamedTuple):
    """The photo, not the person; each field has shape (N,) or (N, k)."""

    shift: jax.Array  # (N, 2) head centre offset
    scale: jax.Array  # head size
    roll: jax.Array  # in-plane rotation, radians
    light: jax.Array  # (N, 2) light direction in the image plane
    light_strength: jax.Array
    background: jax.Array  # (N, 2, 3) top and bottom colours, 0..1
    clothes: jax.Array  # (N, 3) shirt colour, 0..1
    accessory: jax.Array  # (N, 3) hat / tie colour, 0..1
    gaze: jax.Array  # (N, 2) iris offset
    noise_sigma: jax.Array  # sensor noise, in 0..1 units
    noise_key: jax.Array  # (N, 2) uint32 PRNG key data for the sensor noise


def _uniform(key: jax.Array, n: int, low: float, high: float, shape: tuple = ()) -> jax.Array:
    return jax.random.uniform(key, (n, *shape), minval=low, maxval=high)


def sample_identity(key: jax.Array, n: int) -> Identity:
    """Draw ``n`` random identities from ``key``."""
    k = jax.random.split(key, 13)
    return Identity(
        face_width=_uniform(k[0], n, 0.36, 0.43),
        face_height=_uniform(k[1], n, 0.47, 0.54),
        jaw_taper=_uniform(k[2], n, 0.15, 0.35),
        skin_tone=jax.random.beta(k[3], 3.0, 1.6, (n,)),
        eye_colour=jnp.asarray(_EYE_RGB)[jax.random.randint(k[4], (n,), 0, len(_EYE_RGB))] / 255,
        eye_spacing=_uniform(k[5], n, 0.145, 0.175),
        eye_height=_uniform(k[6], n, -0.04, 0.01),
        mouth_height=_uniform(k[7], n, 0.27, 0.32),
        nose_length=_uniform(k[8], n, 0.85, 1.15),
        brow_gap=_uniform(k[9], n, 0.085, 0.11),
        hair_shade=_uniform(k[10], n, 0.85, 1.15),
        long_hair_pref=jax.random.uniform(k[11], (n,)),
        texture_seed=_uniform(k[12], n, 0.0, 100.0),
    )


def sample_nuisance(key: jax.Array, n: int) -> Nuisance:
    """Draw ``n`` random photo conditions from ``key``."""
    k = jax.random.split(key, 11)
    angle = _uniform(k[3], n, -2.6, -0.5)  # light from above, left or right
    hue = jax.random.uniform(k[5], (n, 1, 3))
    return Nuisance(
        shift=_uniform(k[0], n, -0.05, 0.05, (2,)),
        scale=_uniform(k[1], n, 0.94, 1.06),
        roll=_uniform(k[2], n, -0.12, 0.12),
        light=jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1),
        light_strength=_uniform(k[4], n, 0.25, 0.55),
        background=jnp.clip(0.25 + 0.55 * hue + _uniform(k[6], n, -0.12, 0.12, (2, 3)), 0.05, 0.95),
        clothes=_uniform(k[7], n, 0.1, 0.8, (3,)),
        accessory=_uniform(k[8], n, 0.05, 0.7, (3,)),
        gaze=_uniform(k[9], n, -0.008, 0.008, (2,)),
        noise_sigma=_uniform(k[10], n, 0.0, 0.025),
        noise_key=jax.random.key_data(jax.random.split(k[10], n)).astype(jnp.uint32),
    )


# ---------------------------------------------------------------------------
# Attribute sampling with CelebA-like co-occurrence.
#
# Every attribute is a deterministic function of one uniform number per
# attribute (and of attributes decided before it), so a person's photos can
# share the uniforms of their lasting attributes and redraw the transient ones,
# and every conditional rule ("lipstick mostly on women") holds in both.


def attributes_from_uniforms(u: jax.Array) -> jax.Array:
    """Map uniforms (N, 40) in [0, 1) to attribute vectors (N, 40) in {-1, +1}."""

    def draw(name: str, p: jax.Array | float) -> jax.Array:
        return u[:, _A[name]] < p

    male = draw("Male", 0.42)
    young = draw("Young", 0.78)
    bald = draw("Bald", jnp.where(male, jnp.where(young, 0.03, 0.22), 0.0))
    # Hair colour: one categorical draw through cumulative thresholds.
    hc = u[:, _A["Black_Hair"]]
    p_gray = jnp.where(young, 0.01, 0.38)
    p_blond = jnp.where(male, 0.07, 0.26) * jnp.where(young, 1.0, 0.5)
    p_black = 0.27 * jnp.where(young, 1.0, 0.7)
    p_brown = 0.24 * jnp.where(young, 1.0, 0.7)
    gray = hc < p_gray
    blond = (hc >= p_gray) & (hc < p_gray + p_blond)
    black = (hc >= p_gray + p_blond) & (hc < p_gray + p_blond + p_black)
    brown = (hc >= p_gray + p_blond + p_black) & (hc < p_gray + p_blond + p_black + p_brown)
    tex = u[:, _A["Wavy_Hair"]]
    p_wavy = jnp.where(male, 0.15, 0.45)
    wavy = (tex < p_wavy) & ~bald
    straight = (tex >= p_wavy) & (tex < p_wavy + 0.25) & ~bald
    bangs = draw("Bangs", jnp.where(male, 0.08, 0.22)) & ~bald
    receding = draw("Receding_Hairline", jnp.where(male & ~young, 0.35, 0.05)) & ~bald

    beard = draw("No_Beard", jnp.where(male, 0.32, 0.0))
    goatee = draw("Goatee", jnp.where(beard, 0.35, 0.06)) & male
    mustache = draw("Mustache", jnp.where(beard, 0.55, 0.05)) & male
    shadow = draw("5_o_Clock_Shadow", jnp.where(beard, 0.05, 0.3)) & male
    sideburns = draw("Sideburns", jnp.where(beard, 0.4, 0.08)) & male & ~bald

    makeup = draw("Heavy_Makeup", jnp.where(male, 0.01, 0.65))
    lipstick = draw("Wearing_Lipstick", jnp.where(male, 0.005, jnp.where(makeup, 0.9, 0.3)))
    smiling = draw("Smiling", 0.48)
    mouth_open = draw("Mouth_Slightly_Open", jnp.where(smiling, 0.7, 0.25))
    cheekbones = draw("High_Cheekbones", jnp.where(smiling, 0.7, 0.25))
    chubby = draw("Chubby", jnp.where(young, 0.04, 0.16))
    double_chin = draw("Double_Chin", jnp.where(chubby, 0.5, jnp.where(young, 0.02, 0.08)))

    out = {
        "Male": male, "Young": young, "Bald": bald, "Gray_Hair": gray & ~bald,
        "Blond_Hair": blond & ~bald, "Black_Hair": black & ~bald, "Brown_Hair": brown & ~bald,
        "Wavy_Hair": wavy, "Straight_Hair": straight, "Bangs": bangs,
        "Receding_Hairline": receding, "No_Beard": ~(beard & male), "Goatee": goatee,
        "Mustache": mustache, "5_o_Clock_Shadow": shadow, "Sideburns": sideburns,
        "Heavy_Makeup": makeup, "Wearing_Lipstick": lipstick, "Smiling": smiling,
        "Mouth_Slightly_Open": mouth_open, "High_Cheekbones": cheekbones,
        "Chubby": chubby, "Double_Chin": double_chin,
        "Eyeglasses": draw("Eyeglasses", jnp.where(young, 0.04, 0.16)),
        "Wearing_Hat": draw("Wearing_Hat", 0.06),
        "Wearing_Earrings": draw("Wearing_Earrings", jnp.where(male, 0.02, 0.35)),
        "Wearing_Necklace": draw("Wearing_Necklace", jnp.where(male, 0.01, 0.2)),
        "Wearing_Necktie": draw("Wearing_Necktie", jnp.where(male, 0.16, 0.0)),
        "Rosy_Cheeks": draw("Rosy_Cheeks", jnp.where(male, 0.01, 0.12)),
        "Pale_Skin": draw("Pale_Skin", 0.06),
        "Big_Nose": draw("Big_Nose", jnp.where(male, 0.38, 0.12)),
        "Pointy_Nose": draw("Pointy_Nose", jnp.where(male, 0.2, 0.35)),
        "Big_Lips": draw("Big_Lips", jnp.where(male, 0.15, 0.32)),
        "Narrow_Eyes": draw("Narrow_Eyes", 0.12),
        "Bushy_Eyebrows": draw("Bushy_Eyebrows", jnp.where(male, 0.28, 0.07)),
        "Arched_Eyebrows": draw("Arched_Eyebrows", jnp.where(male, 0.05, 0.45)),
        "Bags_Under_Eyes": draw("Bags_Under_Eyes", jnp.where(young, 0.14, 0.5)),
        "Oval_Face": draw("Oval_Face", 0.28),
        "Blurry": draw("Blurry", 0.05),
        "Attractive": draw("Attractive", jnp.where(young, jnp.where(male, 0.4, 0.7), 0.15)),
    }  # fmt: skip
    columns = [out[name] for name in CELEBA_ATTRIBUTES]
    return jnp.where(jnp.stack(columns, axis=1), 1.0, -1.0).astype(jnp.float32)


def sample_attributes(key: jax.Array, n: int) -> jax.Array:
    """Draw ``n`` attribute vectors (N, 40) in {-1, +1} with CelebA-like co-occurrence."""
    return attributes_from_uniforms(jax.random.uniform(key, (n, NUM_ATTRIBUTES)))


_TRANSIENT_MASK = np.array([a in TRANSIENT_ATTRIBUTES for a in CELEBA_ATTRIBUTES])


def sample_photo_attributes(
    key: jax.Array, person_ids: jax.Array, num_people: int, people_key: jax.Array | None = None
) -> jax.Array:
    """Attributes for photos of known people: lasting ones per person, transient per photo.

    A person's lasting attributes come from ``people_key`` (default: derived
    from ``key``), so a fixed pool of people keeps them across batches.
    """
    k_person, k_photo = jax.random.split(key)
    k_person = k_person if people_key is None else jax.random.fold_in(people_key, 1)
    u_person = jax.random.uniform(k_person, (num_people, NUM_ATTRIBUTES))[person_ids]
    u_photo = jax.random.uniform(k_photo, (person_ids.shape[0], NUM_ATTRIBUTES))
    return attributes_from_uniforms(jnp.where(_TRANSIENT_MASK, u_photo, u_person))


# ---------------------------------------------------------------------------
# Signed distance fields and compositing (one image; vmap adds the batch).


def _length(v: jax.Array) -> jax.Array:
    """Euclidean length over a size-2 last axis, written out so XLA fuses it elementwise."""
    return jnp.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1])


def _ellipse(p: jax.Array, centre, radii) -> jax.Array:
    """Approximate signed distance to an axis-aligned ellipse (exact on circles)."""
    q = (p - jnp.asarray(centre)) / jnp.asarray(radii)
    k0 = _length(q)
    k1 = _length(q / jnp.asarray(radii))
    return k0 * (k0 - 1.0) / jnp.maximum(k1, 1e-6)


def _segment(p: jax.Array, a, b, radius) -> jax.Array:
    """Signed distance to a capsule between points a and b."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    pa, ba = p - a, b - a
    h = jnp.clip((pa[..., 0] * ba[0] + pa[..., 1] * ba[1]) / jnp.sum(ba * ba), 0.0, 1.0)
    return _length(pa - h[..., None] * ba) - radius


def _parabola_band(p: jax.Array, centre, half_width, curvature, thickness) -> jax.Array:
    """A stroke along y = cy + curvature * (x - cx)^2 for |x - cx| <= half_width."""
    x = p[..., 0] - centre[0]
    y = p[..., 1] - centre[1]
    curve = y - curvature * x * x
    d_curve = jnp.abs(curve) / jnp.sqrt(1.0 + (2 * curvature * x) ** 2) - thickness
    d_ends = jnp.abs(x) - half_width
    return jnp.maximum(d_curve, d_ends)


def _box(p: jax.Array, centre, half, radius=0.0) -> jax.Array:
    q = jnp.abs(p - jnp.asarray(centre)) - jnp.asarray(half) + radius
    return (
        _length(jnp.maximum(q, 0.0)) + jnp.minimum(jnp.maximum(q[..., 0], q[..., 1]), 0.0) - radius
    )


def _cover(d: jax.Array, px: float | jax.Array, soft: float = 1.0) -> jax.Array:
    """Pixel coverage of a shape from its signed distance: analytic anti-aliasing."""
    return jnp.clip(0.5 - d / (px * soft), 0.0, 1.0)


def _over(canvas: jax.Array, colour: jax.Array, alpha: jax.Array) -> jax.Array:
    return canvas + (jnp.asarray(colour) - canvas) * alpha[..., None]


def _hash(p: jax.Array, seed: jax.Array) -> jax.Array:
    """Cheap deterministic per-position noise in [0, 1) (a shader classic)."""
    v = jnp.sin(p[..., 0] * 127.1 + p[..., 1] * 311.7 + seed) * 43758.5453
    return v - jnp.floor(v)


def _on(attrs: jax.Array, name: str) -> jax.Array:
    """Strength of an attribute as 0..1 (so -1 off, +1 on, 0 halfway)."""
    return jnp.clip((attrs[_A[name]] + 1.0) * 0.5, 0.0, 1.0)


def _render_one(ident: Identity, attrs: jax.Array, nuis: Nuisance, size: int) -> jax.Array:
    px = 2.0 / size  # one pixel in image units (the image spans [-1, 1])
    axis = (jnp.arange(size) + 0.5) / size * 2.0 - 1.0
    img_p = jnp.stack(jnp.meshgrid(axis, axis, indexing="xy"), -1)  # (S, S, 2) x right, y down

    # Head frame: undo the pose so every feature is placed in one upright frame.
    c, s = jnp.cos(nuis.roll), jnp.sin(nuis.roll)
    rel = (img_p - nuis.shift) / nuis.scale
    p = jnp.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], -1)
    fpx = px / nuis.scale

    male, young = _on(attrs, "Male"), _on(attrs, "Young")
    chubby, oval = _on(attrs, "Chubby"), _on(attrs, "Oval_Face")
    fw = ident.face_width * (1.0 + 0.18 * chubby - 0.08 * oval) + 0.015 * male
    fh = ident.face_height * (1.0 + 0.1 * oval)
    taper = ident.jaw_taper * (1.0 - 0.5 * male) * (1.0 - 0.7 * chubby) + 0.3 * oval
    fcy = 0.06

    light = nuis.light
    # Lambert shading on an ellipsoid head: the face is lit from nuis.light.
    q = (p - jnp.array([0.0, fcy])) / jnp.stack([fw * 1.15, fh * 1.1])
    nz = jnp.sqrt(jnp.clip(1.0 - jnp.sum(q * q, -1), 0.02, 1.0))
    lambert = jnp.clip(-(q[..., 0] * light[0] + q[..., 1] * light[1]) * 0.9 + nz * 0.6, 0.0, 1.2)
    shade = 1.0 - nuis.light_strength + nuis.light_strength * lambert

    # --- background: a vertical gradient with a soft vignette
    t = (img_p[..., 1:2] + 1.0) * 0.5
    canvas = nuis.background[0] * (1 - t) + nuis.background[1] * t
    canvas = canvas * (1.0 - 0.25 * jnp.sum(img_p**2, -1, keepdims=True) / 2.0)

    # --- colours of this person in this photo
    pale = _on(attrs, "Pale_Skin")
    skin = (_SKIN_DARK + (_SKIN_LIGHT - _SKIN_DARK) * ident.skin_tone) / 255
    skin = skin + (_PALE / 255 - skin) * (0.75 * pale)
    skin = skin * (1.0 - 0.06 * (1.0 - young))  # older skin a little duller
    hair_weights = jnp.stack(
        [_on(attrs, k) for k in ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")]
    )
    other = jnp.clip(1.0 - jnp.sum(hair_weights), 0.0, 1.0)
    palette = (
        jnp.asarray(
            [
                _HAIR_RGB[k]
                for k in ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "other")
            ],
            jnp.float32,
        )
        / 255
    )
    weights = jnp.concatenate([hair_weights, other[None]])
    hair = (weights @ palette) / jnp.maximum(jnp.sum(weights), 1e-3)
    hair = jnp.clip(hair * ident.hair_shade, 0.0, 1.0)
    brow_colour = hair * 0.7 + jnp.array([0.05, 0.03, 0.02]) * _on(attrs, "Blond_Hair")

    wavy, straight = _on(attrs, "Wavy_Hair"), _on(attrs, "Straight_Hair")
    bald = _on(attrs, "Bald")
    angle = jnp.arctan2(p[..., 1] + 0.1, p[..., 0])
    wave = 0.022 * wavy * jnp.sin(angle * 16.0 + ident.texture_seed)
    strands = 1.0 + (0.10 - 0.05 * straight) * jnp.sin(
        angle * (90.0 - 40.0 * wavy) + 6.0 * wavy * jnp.sin(_length(p) * 30)
    )
    # Straight hair is sleek: a glossy highlight arc across the crown.
    crown = _length((p - jnp.array([0.0, 0.02])) / jnp.stack([fw + 0.05, fh + 0.05]))
    sheen = jnp.exp(-(((crown - 0.9) / 0.06) ** 2)) * (p[..., 1] < -0.05) * straight
    hair_px = hair[None, None, :] * (strands * (1.0 + 0.45 * sheen))[..., None] * shade[..., None]

    # Long hair: women mostly, men rarely; a person keeps their preference.
    long_hair = (ident.long_hair_pref > (0.88 * male + 0.15 * (1 - male))).astype(jnp.float32)
    long_hair = long_hair * (1.0 - bald)

    # --- hair behind the head (long hair falls to the shoulders)
    d_back = _box(p, (0.0, 0.22), (fw + 0.1, 0.6), 0.2) + wave
    canvas = _over(canvas, hair_px * 0.82, _cover(d_back, fpx) * long_hair)

    # --- neck, shoulders and clothes
    d_neck = _box(p, (0.0, 0.62), (0.15 + 0.03 * male, 0.3), 0.05)
    canvas = _over(canvas, skin * 0.78, _cover(d_neck, fpx))
    d_body = _ellipse(p, (0.0, 1.32), (0.95, 0.5))
    canvas = _over(canvas, nuis.clothes * (0.8 + 0.2 * shade[..., None]), _cover(d_body, fpx))
    tie = _on(attrs, "Wearing_Necktie")
    collar = jnp.array([0.95, 0.95, 0.95])
    for side in (-1.0, 1.0):
        d_flap = _segment(p, (side * 0.15, 0.84), (side * 0.02, 0.96), 0.035)
        canvas = _over(canvas, collar, _cover(d_flap, fpx) * tie)
    d_knot = _ellipse(p, (0.0, 0.92), (0.04, 0.035))
    d_blade = _box(p, (0.0, 1.12), (0.035, 0.18), 0.02) - 0.3 * jnp.clip(p[..., 1] - 0.94, 0, 1)
    canvas = _over(canvas, nuis.accessory * 0.8, _cover(jnp.minimum(d_knot, d_blade), fpx) * tie)

    necklace = _on(attrs, "Wearing_Necklace")
    d_chain = _parabola_band(p, (0.0, 0.7), 0.16, 1.6, 0.008)
    beads = 0.6 + 0.4 * jnp.cos(p[..., 0] * 120.0)
    gold = jnp.array([0.92, 0.78, 0.35])
    canvas = _over(canvas, gold, _cover(d_chain, fpx) * beads * necklace)
    canvas = _over(
        canvas, gold * 1.05, _cover(_ellipse(p, (0.0, 0.75), (0.022, 0.028)), fpx) * necklace
    )

    # --- ears and earrings
    for side in (-1.0, 1.0):
        d_ear = _ellipse(p, (side * (fw - 0.005), 0.06), (0.06, 0.11))
        canvas = _over(canvas, skin * 0.88 * shade[..., None], _cover(d_ear, fpx))

    # --- the face: an ellipse that narrows towards the chin
    yrel = jnp.clip((p[..., 1] - fcy) / fh, 0.0, 1.0)
    width = fw * (1.0 - taper * yrel * yrel)
    face_q = jnp.stack([p[..., 0] * fw / width, p[..., 1]], -1)
    d_face = _ellipse(face_q, (0.0, fcy), (fw, fh))
    face_alpha = _cover(d_face, fpx)
    skin_px = skin[None, None, :] * shade[..., None]
    canvas = _over(canvas, skin_px, face_alpha)

    double_chin = _on(attrs, "Double_Chin")
    chin_y = fcy + fh
    d_chin2 = _ellipse(p, (0.0, chin_y - 0.01), (0.15, 0.055))
    canvas = _over(canvas, skin_px * 0.97, _cover(d_chin2, fpx) * double_chin)
    canvas = _over(
        canvas,
        skin * 0.62,
        _cover(_parabola_band(p, (0.0, chin_y - 0.05), 0.11, 2.0, 0.006), fpx, 2.0)
        * double_chin
        * 0.7,
    )

    def on_face(alpha: jax.Array) -> jax.Array:
        return alpha * face_alpha

    # --- age: forehead lines and smile folds for the not-young
    old = 1.0 - young
    wrinkle_colour = skin * 0.6
    for dy in (-0.3, -0.26):
        d = _parabola_band(p, (0.0, dy), 0.16, 0.9, 0.008)
        canvas = _over(canvas, wrinkle_colour, on_face(_cover(d, fpx, 2.0)) * old * 0.75)
    for side in (-1.0, 1.0):
        d = _segment(p, (side * 0.09, 0.14), (side * 0.15, ident.mouth_height + 0.03), 0.008)
        canvas = _over(canvas, wrinkle_colour, on_face(_cover(d, fpx, 2.0)) * old * 0.7)

    # --- cheeks: cheekbone light, rosy blush, makeup blush
    cheekbones = _on(attrs, "High_Cheekbones")
    rosy = _on(attrs, "Rosy_Cheeks")
    makeup = _on(attrs, "Heavy_Makeup")
    for side in (-1.0, 1.0):
        r = _length((p - jnp.array([side * 0.2, 0.16])) / jnp.array([0.09, 0.06]))
        blob = jnp.exp(-r * r)
        canvas = _over(canvas, jnp.array([0.92, 0.42, 0.45]), on_face(blob) * 0.55 * rosy)
        canvas = _over(canvas, jnp.array([0.85, 0.5, 0.5]), on_face(blob) * 0.25 * makeup)
        d_bone = _segment(p, (side * 0.26, 0.1), (side * 0.13, 0.2), 0.012)
        canvas = _over(canvas, skin * 0.72, on_face(_cover(d_bone, fpx, 3.0)) * 0.6 * cheekbones)
        d_glow = _ellipse(p, (side * 0.22, 0.07), (0.07, 0.03))
        canvas = _over(
            canvas,
            jnp.minimum(skin * 1.15, 1.0),
            on_face(_cover(d_glow, fpx, 4.0)) * 0.6 * cheekbones,
        )

    # --- facial hair: stubble, full beard, goatee, sideburns
    mouth_y = ident.mouth_height
    lower = jnp.clip((p[..., 1] - 0.12) / 0.08, 0.0, 1.0)
    stubble = (_hash(jnp.floor(p / (fpx * 0.9)), ident.texture_seed) > 0.45).astype(jnp.float32)
    around_mouth = _cover(-_ellipse(p, (0.0, mouth_y), (0.12, 0.05)), fpx)
    canvas = _over(
        canvas,
        skin * 0.45,
        on_face(lower * around_mouth) * (0.12 + 0.18 * stubble) * _on(attrs, "5_o_Clock_Shadow"),
    )
    beard = 1.0 - _on(attrs, "No_Beard")
    d_beard = jnp.maximum(d_face - 0.012, 0.14 - p[..., 1])
    d_beard = jnp.maximum(d_beard, -_ellipse(p, (0.0, mouth_y), (0.1, 0.042)))
    beard_px = hair_px * (0.95 + 0.1 * stubble[..., None])
    canvas = _over(canvas, beard_px, _cover(d_beard, fpx) * beard)
    goatee = _on(attrs, "Goatee")
    d_goatee = jnp.minimum(
        _ellipse(p, (0.0, chin_y - 0.05), (0.075, 0.07 + 0.03 * beard)),
        _box(p, (0.0, mouth_y + 0.06), (0.028, 0.035), 0.01),
    )
    canvas = _over(canvas, beard_px * 0.75, _cover(d_goatee, fpx) * goatee)
    for side in (-1.0, 1.0):
        d_burn = _box(p, (side * (fw - 0.05), 0.05), (0.03, 0.12), 0.015)
        canvas = _over(canvas, hair_px, on_face(_cover(d_burn, fpx)) * _on(attrs, "Sideburns"))

    # --- nose
    big_nose, pointy = _on(attrs, "Big_Nose"), _on(attrs, "Pointy_Nose")
    # The two must read at 64 px, where the whole nose spans a few pixels.
    # Big: broad wings, wide dark nostrils and a shadow under the base.
    # Pointy: long and narrow, a lit ridge ending in a sharp tip with a dark V below.
    nose_scale = (1.0 + 0.5 * big_nose) * ident.nose_length
    nose_tip = 0.1 + 0.05 * nose_scale + 0.06 * pointy
    nose_half = 0.03 * (1.0 + 1.3 * big_nose) * (1.0 - 0.35 * pointy)
    shadow_side = jnp.where(light[0] > 0, -1.0, 1.0)
    d_ridge = _segment(
        p,
        (shadow_side * 0.022, 0.02),
        (shadow_side * nose_half, nose_tip - 0.02),
        0.008 * (1 + 0.5 * big_nose),
    )
    canvas = _over(canvas, skin * 0.7, on_face(_cover(d_ridge, fpx, 2.5)) * 0.85)
    d_lit = _segment(p, (0.0, 0.03), (0.0, nose_tip - 0.015), 0.006)
    canvas = _over(canvas, jnp.clip(skin * 1.25, 0, 1), on_face(_cover(d_lit, fpx, 1.5)) * pointy)
    d_base = _ellipse(p, (0.0, nose_tip + 0.022), (nose_half * 1.5 + 0.01, 0.014))
    canvas = _over(canvas, skin * 0.6, on_face(_cover(d_base, fpx, 2.0)) * 0.8 * big_nose)
    d_tip = _ellipse(p, (0.0, nose_tip), (nose_half + 0.01, 0.022 * (1 + 0.5 * big_nose)))
    canvas = _over(canvas, skin * 0.85, on_face(_cover(d_tip, fpx, 2.0)) * 0.7)
    for side in (-1.0, 1.0):
        nostril = (0.012 + 0.02 * big_nose, 0.007 + 0.007 * big_nose)
        d_nostril = _ellipse(p, (side * nose_half * 0.8, nose_tip + 0.008), nostril)
        canvas = _over(canvas, skin * 0.3, on_face(_cover(d_nostril, fpx)) * 0.9)
    d_point = _segment(p, (-0.03, nose_tip + 0.025), (0.0, nose_tip + 0.06), 0.009)
    d_point = jnp.minimum(
        d_point, _segment(p, (0.03, nose_tip + 0.025), (0.0, nose_tip + 0.06), 0.009)
    )
    canvas = _over(canvas, skin * 0.45, on_face(_cover(d_point, fpx, 1.5)) * pointy)

    # --- mouth: smile curvature, open mouth with teeth, lips, lipstick
    smiling, mouth_open = _on(attrs, "Smiling"), _on(attrs, "Mouth_Slightly_Open")
    big_lips, lipstick = _on(attrs, "Big_Lips"), _on(attrs, "Wearing_Lipstick")
    half_w = 0.085 + 0.03 * smiling
    curve = 0.6 - 7.5 * smiling  # y grows downwards: negative curvature lifts the corners
    lip_t = (0.016 + 0.012 * big_lips) * (1.0 - 0.2 * male)
    gap = 0.05 * mouth_open
    lip_colour = (
        skin * jnp.array([0.85, 0.6, 0.6])
        + (jnp.array([0.72, 0.08, 0.18]) - skin * jnp.array([0.85, 0.6, 0.6])) * lipstick
    )
    d_inside = jnp.maximum(
        _ellipse(p, (0.0, mouth_y + gap * 0.3), (half_w * 0.85, gap + 1e-3)),
        -(p[..., 1] - (mouth_y - gap * 0.7 + curve * p[..., 0] ** 2)),
    )
    canvas = _over(canvas, jnp.array([0.25, 0.06, 0.08]), _cover(d_inside, fpx) * mouth_open)
    d_teeth = jnp.maximum(d_inside, p[..., 1] - (mouth_y + curve * p[..., 0] ** 2 * 0.6))
    canvas = _over(canvas, jnp.array([0.95, 0.93, 0.88]), _cover(d_teeth, fpx) * mouth_open)
    d_upper = _parabola_band(p, (0.0, mouth_y - gap * 0.5 - lip_t * 0.6), half_w, curve, lip_t)
    d_lower = _parabola_band(
        p, (0.0, mouth_y + gap * 0.7 + lip_t * 0.8), half_w * 0.85, curve * 1.1, lip_t * 1.3
    )
    canvas = _over(canvas, lip_colour * 0.92, _cover(d_upper, fpx))
    canvas = _over(canvas, lip_colour, _cover(d_lower, fpx))
    d_line = _parabola_band(p, (0.0, mouth_y), half_w + 0.006, curve, 0.0035)
    canvas = _over(canvas, lip_colour * 0.45, _cover(d_line, fpx) * (1.0 - mouth_open))
    mustache = _on(attrs, "Mustache")
    d_stache = _parabola_band(p, (0.0, mouth_y - 0.045 - lip_t), half_w * 0.95, 2.5, 0.017)
    canvas = _over(canvas, beard_px * 0.8, _cover(d_stache, fpx) * mustache)

    # --- eyes, eyelids, bags, eyebrows, eye makeup
    narrow = _on(attrs, "Narrow_Eyes")
    eye_h = 0.034 * (1.0 - 0.55 * narrow) * (1.0 + 0.1 * young)
    bags = _on(attrs, "Bags_Under_Eyes")
    bushy, arched = _on(attrs, "Bushy_Eyebrows"), _on(attrs, "Arched_Eyebrows")
    for side in (-1.0, 1.0):
        ec = jnp.stack([side * ident.eye_spacing, ident.eye_height])
        d_bag = _parabola_band(p, ec + jnp.array([0.0, eye_h + 0.022]), 0.055, -4.0, 0.012)
        canvas = _over(
            canvas, skin * jnp.array([0.62, 0.55, 0.62]), on_face(_cover(d_bag, fpx, 2.5)) * bags
        )
        d_shadow = _ellipse(p, ec - jnp.array([0.0, 0.012]), (0.075, eye_h + 0.018))
        canvas = _over(
            canvas, jnp.array([0.45, 0.3, 0.5]), on_face(_cover(d_shadow, fpx, 3.0)) * 0.55 * makeup
        )
        d_sclera = _ellipse(p, ec, (0.062, eye_h))
        sclera_a = _cover(d_sclera, fpx)
        canvas = _over(canvas, jnp.array([0.96, 0.95, 0.93]), sclera_a)
        iris_c = ec + nuis.gaze
        iris_a = _cover(_ellipse(p, iris_c, (0.03, 0.03)), fpx) * sclera_a
        canvas = _over(canvas, ident.eye_colour, iris_a)
        canvas = _over(
            canvas,
            jnp.array([0.05, 0.04, 0.04]),
            _cover(_ellipse(p, iris_c, (0.013, 0.013)), fpx) * sclera_a,
        )
        canvas = _over(
            canvas, jnp.ones(3), _cover(_ellipse(p, iris_c - 0.01, (0.006, 0.006)), fpx) * sclera_a
        )
        lid_t = 0.005 + 0.004 * makeup
        d_lid = _parabola_band(
            p, ec - jnp.array([0.0, eye_h]), 0.066, 9.0 * eye_h / 0.034 * 0.6, lid_t
        )
        canvas = _over(canvas, jnp.array([0.12, 0.08, 0.07]), _cover(d_lid, fpx))

        brow_y = ident.eye_height - ident.brow_gap - 0.008 * male
        brow_t = 0.009 + 0.014 * bushy + 0.004 * male
        brow_curve = 3.0 + 18.0 * arched
        d_brow = _parabola_band(
            p,
            jnp.stack([side * (ident.eye_spacing + 0.01 * arched), brow_y - 0.016 * arched]),
            0.07 + 0.01 * bushy,
            brow_curve,
            brow_t,
        )
        brow_tex = 0.85 + 0.3 * bushy * (_hash(jnp.floor(p / fpx), ident.texture_seed) - 0.5)
        canvas = _over(canvas, brow_colour, on_face(_cover(d_brow, fpx)) * brow_tex)

    # --- hair on the head (front): the face shows through a window
    window_top = -0.38 + 0.2 * _on(attrs, "Bangs")
    win_ry = (fcy + fh - window_top) / 2.0
    d_window = _ellipse(p, (0.0, window_top + win_ry), (fw - 0.035, win_ry))
    receding = _on(attrs, "Receding_Hairline")
    for side in (-1.0, 1.0):
        d_window = jnp.minimum(
            d_window, _ellipse(p, (side * 0.2, -0.36), (0.11, 0.12)) + (1.0 - receding) * 1.0
        )
    fringe = 0.015 * _on(attrs, "Bangs") * jnp.sin(p[..., 0] * 70.0)
    d_skull = _ellipse(p, (0.0, -0.06), (fw + 0.055, fh + 0.06)) + wave
    d_cap = jnp.maximum(d_skull, -(d_window + fringe))
    d_cap = jnp.maximum(d_cap, p[..., 1] - (0.05 + 0.5 * long_hair))
    # Bald: skin dome with a shine and a little hair above the ears.
    scalp = _cover(
        jnp.maximum(_ellipse(p, (0.0, -0.05), (fw + 0.015, fh + 0.03)), p[..., 1] - 0.0), fpx
    )
    canvas = _over(canvas, skin_px, scalp * bald)
    shine = jnp.exp(-jnp.sum(((p - jnp.array([-0.1, -0.42])) / jnp.array([0.1, 0.05])) ** 2, -1))
    canvas = _over(canvas, jnp.ones(3), shine * scalp * bald * 0.35)
    d_fringe = jnp.maximum(d_skull, jnp.abs(p[..., 1] - 0.0) - 0.1)
    d_fringe = jnp.maximum(d_fringe, 0.22 - jnp.abs(p[..., 0]))
    hair_alpha = _cover(d_cap, fpx) * (1.0 - bald) + _cover(d_fringe, fpx) * bald
    shadow = _cover(d_cap - 0.025, fpx, 6.0) * (1.0 - bald) * face_alpha
    canvas = _over(canvas, jnp.zeros(3), shadow * 0.25)
    canvas = _over(canvas, hair_px, hair_alpha)

    # --- earrings hang below the lobes, in front of any hair
    for side in (-1.0, 1.0):
        d_ring = _ellipse(p, (side * (fw - 0.005), 0.23), (0.03, 0.034))
        ring = _cover(jnp.abs(d_ring) - 0.009, fpx) * _on(attrs, "Wearing_Earrings")
        canvas = _over(canvas, gold, ring)

    # --- eyeglasses: two rims, a bridge, tinted lenses with a glint
    glasses = _on(attrs, "Eyeglasses")
    frame = jnp.array([0.1, 0.1, 0.12])
    for side in (-1.0, 1.0):
        ec = jnp.stack([side * ident.eye_spacing, ident.eye_height + 0.005])
        d_lens = _box(p, ec, (0.082, 0.058), 0.04)
        canvas = _over(canvas, jnp.array([0.7, 0.8, 0.9]), _cover(d_lens, fpx) * 0.18 * glasses)
        glint = _segment(p, ec + jnp.array([-0.03, -0.02]), ec + jnp.array([0.0, -0.045]), 0.006)
        canvas = _over(canvas, jnp.ones(3), _cover(glint, fpx) * 0.5 * glasses)
        canvas = _over(canvas, frame, _cover(jnp.abs(d_lens) - 0.009, fpx) * glasses)
        arm = _segment(
            p,
            ec + jnp.array([side * 0.082, -0.02]),
            jnp.stack([side * (fw + 0.01), ident.eye_height - 0.01]),
            0.008,
        )
        canvas = _over(canvas, frame, _cover(arm, fpx) * glasses)
    bridge = _parabola_band(p, (0.0, ident.eye_height - 0.02), ident.eye_spacing - 0.08, 3.0, 0.007)
    canvas = _over(canvas, frame, _cover(bridge, fpx) * glasses)

    # --- hat: crown and brim, with the brim's shadow on the forehead
    hat = _on(attrs, "Wearing_Hat")
    brim_y = -0.33
    d_crown = _box(p, (0.0, brim_y - 0.24), (fw + 0.02, 0.25), 0.12)
    d_brim = _ellipse(p, (0.0, brim_y), (fw + 0.2, 0.045))
    hat_col = nuis.accessory[None, None, :] * (0.75 + 0.35 * shade[..., None])
    brim_shadow = _cover(jnp.abs(p[..., 1] - (brim_y + 0.07)) - 0.04, fpx, 8.0) * face_alpha
    canvas = _over(canvas, jnp.zeros(3), brim_shadow * 0.3 * hat)
    canvas = _over(canvas, hat_col, _cover(jnp.minimum(d_crown, d_brim), fpx) * hat)
    band = jnp.maximum(d_crown, jnp.abs(p[..., 1] - (brim_y - 0.06)) - 0.025)
    canvas = _over(canvas, nuis.accessory * 0.4, _cover(band, fpx) * hat)
    return canvas


def _gaussian_blur(image: jax.Array, sigma: jax.Array, size: int) -> jax.Array:
    """Separable Gaussian blur; ``sigma`` in pixels of a 64-pixel image (scaled to size)."""
    radius = 7
    x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    s = jnp.maximum(sigma * size / 64.0, 1e-3)
    kernel = jnp.exp(-0.5 * (x / s) ** 2)
    kernel = kernel / jnp.sum(kernel)
    padded = jnp.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(kernel[i] * padded[i : i + size, :, :] for i in range(2 * radius + 1))
    return sum(kernel[i] * rows[:, i : i + size, :] for i in range(2 * radius + 1))


def _finish(image: jax.Array, attrs: jax.Array, nuis: Nuisance, size: int) -> jax.Array:
    blurry = _on(attrs, "Blurry")
    image = image + (_gaussian_blur(image, 1.6, size) - image) * blurry
    key = jax.random.wrap_key_data(nuis.noise_key)
    image = image + nuis.noise_sigma * jax.random.normal(key, image.shape)
    return jnp.clip(image, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("size",))
def render(
    identity: Identity, attributes: jax.Array, nuisance: Nuisance, size: int = 64
) -> jax.Array:
    """Draw a batch of portraits as float32 RGB in [0, 1], shape (N, size, size, 3).

    ``attributes`` is (N, 40) in [-1, 1] in CelebA order; values between the
    extremes draw the attribute partly (a smile halfway, tinted lenses), which
    makes the renderer a smooth function of the attributes.
    """

    def one(ident, attrs, nuis):
        return _finish(_render_one(ident, attrs, nuis, size), attrs, nuis, size)

    return jax.vmap(one)(identity, attributes, nuisance)


def to_uint8(images: jax.Array) -> np.ndarray:
    """Float images in [0, 1] to uint8 numpy arrays."""
    return np.asarray(jnp.round(jnp.clip(images, 0.0, 1.0) * 255.0)).astype(np.uint8)


class Scene(NamedTuple):
    """Everything that decides a batch of portraits, before any pixel is drawn."""

    identity: Identity
    attributes: jax.Array  # (N, 40) in {-1, +1}
    nuisance: Nuisance
    person_ids: jax.Array  # (N,) int32


def sample_scene(
    key: jax.Array, n: int, num_people: int | None = None, people_key: jax.Array | None = None
) -> Scene:
    """Draw people, their photo attributes and photo conditions for ``n`` portraits.

    Cheap (a few numbers per portrait), so a whole dataset's scene is drawn at
    once and rendered in slices: portrait ``i`` is the same whatever the batch
    size. With ``people_key`` the ``num_people`` people form a fixed pool (the
    same faces and lasting attributes in every call), for identity labels.
    """
    num_people = n if num_people is None else num_people
    k_people, k_assign, k_attr, k_nuis = jax.random.split(key, 4)
    if people_key is not None:
        k_people = people_key
    if num_people == n and people_key is None:
        person_ids = jnp.arange(n, dtype=jnp.int32)
    else:
        person_ids = jax.random.randint(k_assign, (n,), 0, num_people, dtype=jnp.int32)
    people = sample_identity(k_people, num_people)
    identity = jax.tree_util.tree_map(lambda a: a[person_ids], people)
    attributes = sample_photo_attributes(k_attr, person_ids, num_people, people_key)
    return Scene(identity, attributes, sample_nuisance(k_nuis, n), person_ids)


def slice_scene(scene: Scene, start: int, stop: int) -> Scene:
    """Portraits ``start:stop`` of a scene."""
    return jax.tree_util.tree_map(lambda a: a[start:stop], scene)


def render_scene(scene: Scene, size: int = 64) -> jax.Array:
    """Render a scene: (N, size, size, 3) float32 in [0, 1]."""
    return render(scene.identity, scene.attributes, scene.nuisance, size=size)


class Portraits(NamedTuple):
    """A batch of rendered portraits with the scene that redraws them."""

    images: jax.Array  # (N, S, S, 3) float32 in [0, 1]
    scene: Scene

    @property
    def attributes(self) -> jax.Array:
        return self.scene.attributes


def sample_portraits(
    key: jax.Array, n: int, size: int = 64, num_people: int | None = None
) -> Portraits:
    """Render ``n`` random portraits of ``num_people`` people (default: all different)."""
    scene = sample_scene(key, n, num_people)
    return Portraits(render_scene(scene, size), scene)


def counterfactual(
    portraits: Portraits, attribute: str, value: float, size: int | None = None
) -> jax.Array:
    """Redraw the same people in the same photos with one attribute set to ``value``."""
    scene = portraits.scene
    attrs = scene.attributes.at[:, _A[attribute]].set(value)
    size = portraits.images.shape[1] if size is None else size
    return render_scene(scene._replace(attributes=attrs), size)
