"""The portrait renderer: an ordered fold over layers, one per part of the face.

``draw(identity, attributes, nuisance, size)`` computes a :class:`Frame` (the head's
pose and proportions, the person's colours in this photo's light, the face's outline)
and folds :data:`LAYERS` over a canvas, back to front: the tuple's order *is* the
z-order (hair behind the head first, the hat last). Each layer is a pure function
``(canvas, frame) -> canvas`` of one image (``vmap`` adds the batch) and changes only
its own part of the picture, so each can be drawn and tested alone.

Shapes are signed distance fields composited with analytic anti-aliasing, lit with a
Lambert term on an ellipsoid head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from deepface_gen.attributes import ATTRIBUTE_INDEX

_A = ATTRIBUTE_INDEX

_HAIR_RGB = {
    "Black_Hair": (28, 24, 24),
    "Blond_Hair": (222, 186, 118),
    "Brown_Hair": (104, 66, 40),
    "Gray_Hair": (178, 176, 174),
    "other": (142, 58, 30),  # auburn: hair with none of the four colour labels
}
_SKIN_DARK = np.array([96, 62, 42], np.float32)
_SKIN_LIGHT = np.array([238, 200, 172], np.float32)
_PALE = np.array([246, 232, 226], np.float32)

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


def strength(attrs: jax.Array, name: str) -> jax.Array:
    """Strength of an attribute as 0..1 (so -1 off, +1 on, 0 halfway)."""
    return jnp.clip((attrs[_A[name]] + 1.0) * 0.5, 0.0, 1.0)


# ---------------------------------------------------------------------------
# The frame: everything the layers share about one portrait.


class Frame(NamedTuple):
    """One portrait's shared geometry and colours, computed once before the layers.

    ``p`` is the head frame (pose undone), ``fpx`` one pixel in it; ``fw``, ``fh`` the
    face's half width and height, ``fcy`` its centre; ``shade`` the Lambert light;
    ``skin`` and ``brow_colour`` the colours, ``*_px`` lit per-pixel colours; ``d_face`` and
    ``face_alpha`` the face's outline and coverage.
    """

    ident: Any
    attrs: Any
    nuis: Any
    img_p: Any
    p: Any
    fpx: Any
    male: Any
    young: Any
    fw: Any
    fh: Any
    fcy: Any
    light: Any
    shade: Any
    skin: Any
    skin_px: Any
    hair_px: Any
    brow_colour: Any
    wave: Any
    long_hair: Any
    bald: Any
    d_face: Any
    face_alpha: Any
    chin_y: Any
    mouth_y: Any
    stubble: Any
    beard_px: Any
    makeup: Any
    gold: Any

    def on_face(self, alpha: jax.Array) -> jax.Array:
        """Coverage kept inside the face's outline."""
        return alpha * self.face_alpha


def _head_frame(nuis: Any, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(image points (S, S, 2), the same points in the upright head frame, one pixel in
    head units): undo the pose so every feature is placed in one upright frame."""
    px = 2.0 / size  # one pixel in image units (the image spans [-1, 1])
    axis = (jnp.arange(size) + 0.5) / size * 2.0 - 1.0
    img_p = jnp.stack(jnp.meshgrid(axis, axis, indexing="xy"), -1)  # (S, S, 2) x right, y down
    c, s = jnp.cos(nuis.roll), jnp.sin(nuis.roll)
    rel = (img_p - nuis.shift) / nuis.scale
    p = jnp.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1]], -1)
    return img_p, p, px / nuis.scale


def _skin_colour(ident: Any, attrs: jax.Array, young: jax.Array) -> jax.Array:
    """(3,) skin colour in 0..1: the person's tone, paler with Pale_Skin, duller with age."""
    pale = strength(attrs, "Pale_Skin")
    skin = (_SKIN_DARK + (_SKIN_LIGHT - _SKIN_DARK) * ident.skin_tone) / 255
    skin = skin + (_PALE / 255 - skin) * (0.75 * pale)
    return skin * (1.0 - 0.06 * (1.0 - young))  # older skin a little duller


def _hair_colour(ident: Any, attrs: jax.Array) -> jax.Array:
    """(3,) hair colour in 0..1: the hair-colour attributes' blend, in the person's shade."""
    hair_weights = jnp.stack(
        [strength(attrs, k) for k in ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")]
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
    return jnp.clip(hair * ident.hair_shade, 0.0, 1.0)


def _hair_texture(ident, attrs, p, fw, fh, hair, shade) -> tuple[jax.Array, jax.Array]:
    """(the hair's waviness offset, its pixels (S, S, 3)): strands, waves and, for
    straight hair, a glossy highlight arc across the crown."""
    wavy, straight = strength(attrs, "Wavy_Hair"), strength(attrs, "Straight_Hair")
    angle = jnp.arctan2(p[..., 1] + 0.1, p[..., 0])
    wave = 0.022 * wavy * jnp.sin(angle * 16.0 + ident.texture_seed)
    strands = 1.0 + (0.10 - 0.05 * straight) * jnp.sin(
        angle * (90.0 - 40.0 * wavy) + 6.0 * wavy * jnp.sin(_length(p) * 30)
    )
    crown = _length((p - jnp.array([0.0, 0.02])) / jnp.stack([fw + 0.05, fh + 0.05]))
    sheen = jnp.exp(-(((crown - 0.9) / 0.06) ** 2)) * (p[..., 1] < -0.05) * straight
    hair_px = hair[None, None, :] * (strands * (1.0 + 0.45 * sheen))[..., None] * shade[..., None]
    return wave, hair_px


def frame(ident: Any, attrs: jax.Array, nuis: Any, size: int) -> Frame:
    """The shared frame of one portrait: pose, proportions, light, colours, outline."""
    img_p, p, fpx = _head_frame(nuis, size)

    male, young = strength(attrs, "Male"), strength(attrs, "Young")
    chubby, oval = strength(attrs, "Chubby"), strength(attrs, "Oval_Face")
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

    skin = _skin_colour(ident, attrs, young)
    hair = _hair_colour(ident, attrs)
    brow_colour = hair * 0.7 + jnp.array([0.05, 0.03, 0.02]) * strength(attrs, "Blond_Hair")
    bald = strength(attrs, "Bald")
    wave, hair_px = _hair_texture(ident, attrs, p, fw, fh, hair, shade)

    # Long hair: women mostly, men rarely; a person keeps their preference.
    long_hair = (ident.long_hair_pref > (0.88 * male + 0.15 * (1 - male))).astype(jnp.float32)
    long_hair = long_hair * (1.0 - bald)

    # The face's outline, which later layers keep their marks inside of.
    yrel = jnp.clip((p[..., 1] - fcy) / fh, 0.0, 1.0)
    width = fw * (1.0 - taper * yrel * yrel)
    face_q = jnp.stack([p[..., 0] * fw / width, p[..., 1]], -1)
    d_face = _ellipse(face_q, (0.0, fcy), (fw, fh))
    face_alpha = _cover(d_face, fpx)
    skin_px = skin[None, None, :] * shade[..., None]
    chin_y = fcy + fh
    mouth_y = ident.mouth_height
    stubble = (_hash(jnp.floor(p / (fpx * 0.9)), ident.texture_seed) > 0.45).astype(jnp.float32)
    beard_px = hair_px * (0.95 + 0.1 * stubble[..., None])
    makeup = strength(attrs, "Heavy_Makeup")
    gold = jnp.array([0.92, 0.78, 0.35])
    return Frame(
        ident=ident,
        attrs=attrs,
        nuis=nuis,
        img_p=img_p,
        p=p,
        fpx=fpx,
        male=male,
        young=young,
        fw=fw,
        fh=fh,
        fcy=fcy,
        light=light,
        shade=shade,
        skin=skin,
        skin_px=skin_px,
        hair_px=hair_px,
        brow_colour=brow_colour,
        wave=wave,
        long_hair=long_hair,
        bald=bald,
        d_face=d_face,
        face_alpha=face_alpha,
        chin_y=chin_y,
        mouth_y=mouth_y,
        stubble=stubble,
        beard_px=beard_px,
        makeup=makeup,
        gold=gold,
    )


# ---------------------------------------------------------------------------
# The layers, back to front.


def _background(canvas: jax.Array, f: Frame) -> jax.Array:
    """A vertical gradient with a soft vignette."""
    t = (f.img_p[..., 1:2] + 1.0) * 0.5
    canvas = f.nuis.background[0] * (1 - t) + f.nuis.background[1] * t
    canvas = canvas * (1.0 - 0.25 * jnp.sum(f.img_p**2, -1, keepdims=True) / 2.0)
    return canvas


def _hair_behind(canvas: jax.Array, f: Frame) -> jax.Array:
    """Long hair falls behind the head to the shoulders."""
    d_back = _box(f.p, (0.0, 0.22), (f.fw + 0.1, 0.6), 0.2) + f.wave
    canvas = _over(canvas, f.hair_px * 0.82, _cover(d_back, f.fpx) * f.long_hair)
    return canvas


def _neck_and_clothes(canvas: jax.Array, f: Frame) -> jax.Array:
    """Neck, shoulders and clothes."""
    d_neck = _box(f.p, (0.0, 0.62), (0.15 + 0.03 * f.male, 0.3), 0.05)
    canvas = _over(canvas, f.skin * 0.78, _cover(d_neck, f.fpx))
    d_body = _ellipse(f.p, (0.0, 1.32), (0.95, 0.5))
    canvas = _over(canvas, f.nuis.clothes * (0.8 + 0.2 * f.shade[..., None]), _cover(d_body, f.fpx))
    return canvas


def _necktie(canvas: jax.Array, f: Frame) -> jax.Array:
    """Collar flaps, knot and blade."""
    tie = strength(f.attrs, "Wearing_Necktie")
    collar = jnp.array([0.95, 0.95, 0.95])
    for side in (-1.0, 1.0):
        d_flap = _segment(f.p, (side * 0.15, 0.84), (side * 0.02, 0.96), 0.035)
        canvas = _over(canvas, collar, _cover(d_flap, f.fpx) * tie)
    d_knot = _ellipse(f.p, (0.0, 0.92), (0.04, 0.035))
    d_blade = _box(f.p, (0.0, 1.12), (0.035, 0.18), 0.02) - 0.3 * jnp.clip(f.p[..., 1] - 0.94, 0, 1)
    canvas = _over(
        canvas, f.nuis.accessory * 0.8, _cover(jnp.minimum(d_knot, d_blade), f.fpx) * tie
    )
    return canvas


def _necklace(canvas: jax.Array, f: Frame) -> jax.Array:
    """A beaded gold chain with a pendant."""
    necklace = strength(f.attrs, "Wearing_Necklace")
    d_chain = _parabola_band(f.p, (0.0, 0.7), 0.16, 1.6, 0.008)
    beads = 0.6 + 0.4 * jnp.cos(f.p[..., 0] * 120.0)
    canvas = _over(canvas, f.gold, _cover(d_chain, f.fpx) * beads * necklace)
    canvas = _over(
        canvas, f.gold * 1.05, _cover(_ellipse(f.p, (0.0, 0.75), (0.022, 0.028)), f.fpx) * necklace
    )
    return canvas


def _ears(canvas: jax.Array, f: Frame) -> jax.Array:
    """Ears, shaded."""
    for side in (-1.0, 1.0):
        d_ear = _ellipse(f.p, (side * (f.fw - 0.005), 0.06), (0.06, 0.11))
        canvas = _over(canvas, f.skin * 0.88 * f.shade[..., None], _cover(d_ear, f.fpx))
    return canvas


def _face(canvas: jax.Array, f: Frame) -> jax.Array:
    """The face: an ellipse that narrows towards the chin."""
    canvas = _over(canvas, f.skin_px, f.face_alpha)
    return canvas


def _double_chin(canvas: jax.Array, f: Frame) -> jax.Array:
    """A second chin and its crease."""
    double_chin = strength(f.attrs, "Double_Chin")
    d_chin2 = _ellipse(f.p, (0.0, f.chin_y - 0.01), (0.15, 0.055))
    canvas = _over(canvas, f.skin_px * 0.97, _cover(d_chin2, f.fpx) * double_chin)
    canvas = _over(
        canvas,
        f.skin * 0.62,
        _cover(_parabola_band(f.p, (0.0, f.chin_y - 0.05), 0.11, 2.0, 0.006), f.fpx, 2.0)
        * double_chin
        * 0.7,
    )
    return canvas


def _age(canvas: jax.Array, f: Frame) -> jax.Array:
    """Forehead lines and smile folds for the not-young."""
    old = 1.0 - f.young
    wrinkle_colour = f.skin * 0.6
    for dy in (-0.3, -0.26):
        d = _parabola_band(f.p, (0.0, dy), 0.16, 0.9, 0.008)
        canvas = _over(canvas, wrinkle_colour, f.on_face(_cover(d, f.fpx, 2.0)) * old * 0.75)
    for side in (-1.0, 1.0):
        d = _segment(f.p, (side * 0.09, 0.14), (side * 0.15, f.ident.mouth_height + 0.03), 0.008)
        canvas = _over(canvas, wrinkle_colour, f.on_face(_cover(d, f.fpx, 2.0)) * old * 0.7)
    return canvas


def _cheeks(canvas: jax.Array, f: Frame) -> jax.Array:
    """Cheekbone light, rosy blush, makeup blush."""
    cheekbones = strength(f.attrs, "High_Cheekbones")
    rosy = strength(f.attrs, "Rosy_Cheeks")
    for side in (-1.0, 1.0):
        r = _length((f.p - jnp.array([side * 0.2, 0.16])) / jnp.array([0.09, 0.06]))
        blob = jnp.exp(-r * r)
        canvas = _over(canvas, jnp.array([0.92, 0.42, 0.45]), f.on_face(blob) * 0.55 * rosy)
        canvas = _over(canvas, jnp.array([0.85, 0.5, 0.5]), f.on_face(blob) * 0.25 * f.makeup)
        d_bone = _segment(f.p, (side * 0.26, 0.1), (side * 0.13, 0.2), 0.012)
        canvas = _over(
            canvas, f.skin * 0.72, f.on_face(_cover(d_bone, f.fpx, 3.0)) * 0.6 * cheekbones
        )
        d_glow = _ellipse(f.p, (side * 0.22, 0.07), (0.07, 0.03))
        canvas = _over(
            canvas,
            jnp.minimum(f.skin * 1.15, 1.0),
            f.on_face(_cover(d_glow, f.fpx, 4.0)) * 0.6 * cheekbones,
        )
    return canvas


def _facial_hair(canvas: jax.Array, f: Frame) -> jax.Array:
    """Stubble, full beard, goatee, sideburns."""
    lower = jnp.clip((f.p[..., 1] - 0.12) / 0.08, 0.0, 1.0)
    around_mouth = _cover(-_ellipse(f.p, (0.0, f.mouth_y), (0.12, 0.05)), f.fpx)
    canvas = _over(
        canvas,
        f.skin * 0.45,
        f.on_face(lower * around_mouth)
        * (0.12 + 0.18 * f.stubble)
        * strength(f.attrs, "5_o_Clock_Shadow"),
    )
    beard = 1.0 - strength(f.attrs, "No_Beard")
    d_beard = jnp.maximum(f.d_face - 0.012, 0.14 - f.p[..., 1])
    d_beard = jnp.maximum(d_beard, -_ellipse(f.p, (0.0, f.mouth_y), (0.1, 0.042)))
    canvas = _over(canvas, f.beard_px, _cover(d_beard, f.fpx) * beard)
    goatee = strength(f.attrs, "Goatee")
    d_goatee = jnp.minimum(
        _ellipse(f.p, (0.0, f.chin_y - 0.05), (0.075, 0.07 + 0.03 * beard)),
        _box(f.p, (0.0, f.mouth_y + 0.06), (0.028, 0.035), 0.01),
    )
    canvas = _over(canvas, f.beard_px * 0.75, _cover(d_goatee, f.fpx) * goatee)
    for side in (-1.0, 1.0):
        d_burn = _box(f.p, (side * (f.fw - 0.05), 0.05), (0.03, 0.12), 0.015)
        canvas = _over(
            canvas, f.hair_px, f.on_face(_cover(d_burn, f.fpx)) * strength(f.attrs, "Sideburns")
        )
    return canvas


def _nose(canvas: jax.Array, f: Frame) -> jax.Array:
    """A big or pointy nose, legible at 64 px."""
    big_nose, pointy = strength(f.attrs, "Big_Nose"), strength(f.attrs, "Pointy_Nose")
    # The two must read at 64 px, where the whole nose spans a few pixels.
    # Big: broad wings, wide dark nostrils and a shadow under the base.
    # Pointy: long and narrow, a lit ridge ending in a sharp tip with a dark V below.
    nose_scale = (1.0 + 0.5 * big_nose) * f.ident.nose_length
    nose_tip = 0.1 + 0.05 * nose_scale + 0.06 * pointy
    nose_half = 0.03 * (1.0 + 1.3 * big_nose) * (1.0 - 0.35 * pointy)
    shadow_side = jnp.where(f.light[0] > 0, -1.0, 1.0)
    d_ridge = _segment(
        f.p,
        (shadow_side * 0.022, 0.02),
        (shadow_side * nose_half, nose_tip - 0.02),
        0.008 * (1 + 0.5 * big_nose),
    )
    canvas = _over(canvas, f.skin * 0.7, f.on_face(_cover(d_ridge, f.fpx, 2.5)) * 0.85)
    d_lit = _segment(f.p, (0.0, 0.03), (0.0, nose_tip - 0.015), 0.006)
    canvas = _over(
        canvas, jnp.clip(f.skin * 1.25, 0, 1), f.on_face(_cover(d_lit, f.fpx, 1.5)) * pointy
    )
    d_base = _ellipse(f.p, (0.0, nose_tip + 0.022), (nose_half * 1.5 + 0.01, 0.014))
    canvas = _over(canvas, f.skin * 0.6, f.on_face(_cover(d_base, f.fpx, 2.0)) * 0.8 * big_nose)
    d_tip = _ellipse(f.p, (0.0, nose_tip), (nose_half + 0.01, 0.022 * (1 + 0.5 * big_nose)))
    canvas = _over(canvas, f.skin * 0.85, f.on_face(_cover(d_tip, f.fpx, 2.0)) * 0.7)
    for side in (-1.0, 1.0):
        nostril = (0.012 + 0.02 * big_nose, 0.007 + 0.007 * big_nose)
        d_nostril = _ellipse(f.p, (side * nose_half * 0.8, nose_tip + 0.008), nostril)
        canvas = _over(canvas, f.skin * 0.3, f.on_face(_cover(d_nostril, f.fpx)) * 0.9)
    d_point = _segment(f.p, (-0.03, nose_tip + 0.025), (0.0, nose_tip + 0.06), 0.009)
    d_point = jnp.minimum(
        d_point, _segment(f.p, (0.03, nose_tip + 0.025), (0.0, nose_tip + 0.06), 0.009)
    )
    canvas = _over(canvas, f.skin * 0.45, f.on_face(_cover(d_point, f.fpx, 1.5)) * pointy)
    return canvas


def _mouth(canvas: jax.Array, f: Frame) -> jax.Array:
    """Smile curvature, open mouth with teeth, lips, lipstick, mustache."""
    smiling, mouth_open = strength(f.attrs, "Smiling"), strength(f.attrs, "Mouth_Slightly_Open")
    big_lips, lipstick = strength(f.attrs, "Big_Lips"), strength(f.attrs, "Wearing_Lipstick")
    half_w = 0.085 + 0.03 * smiling
    curve = 0.6 - 7.5 * smiling  # y grows downwards: negative curvature lifts the corners
    lip_t = (0.016 + 0.012 * big_lips) * (1.0 - 0.2 * f.male)
    gap = 0.05 * mouth_open
    lip_colour = (
        f.skin * jnp.array([0.85, 0.6, 0.6])
        + (jnp.array([0.72, 0.08, 0.18]) - f.skin * jnp.array([0.85, 0.6, 0.6])) * lipstick
    )
    d_inside = jnp.maximum(
        _ellipse(f.p, (0.0, f.mouth_y + gap * 0.3), (half_w * 0.85, gap + 1e-3)),
        -(f.p[..., 1] - (f.mouth_y - gap * 0.7 + curve * f.p[..., 0] ** 2)),
    )
    canvas = _over(canvas, jnp.array([0.25, 0.06, 0.08]), _cover(d_inside, f.fpx) * mouth_open)
    d_teeth = jnp.maximum(d_inside, f.p[..., 1] - (f.mouth_y + curve * f.p[..., 0] ** 2 * 0.6))
    canvas = _over(canvas, jnp.array([0.95, 0.93, 0.88]), _cover(d_teeth, f.fpx) * mouth_open)
    d_upper = _parabola_band(f.p, (0.0, f.mouth_y - gap * 0.5 - lip_t * 0.6), half_w, curve, lip_t)
    d_lower = _parabola_band(
        f.p, (0.0, f.mouth_y + gap * 0.7 + lip_t * 0.8), half_w * 0.85, curve * 1.1, lip_t * 1.3
    )
    canvas = _over(canvas, lip_colour * 0.92, _cover(d_upper, f.fpx))
    canvas = _over(canvas, lip_colour, _cover(d_lower, f.fpx))
    d_line = _parabola_band(f.p, (0.0, f.mouth_y), half_w + 0.006, curve, 0.0035)
    canvas = _over(canvas, lip_colour * 0.45, _cover(d_line, f.fpx) * (1.0 - mouth_open))
    mustache = strength(f.attrs, "Mustache")
    d_stache = _parabola_band(f.p, (0.0, f.mouth_y - 0.045 - lip_t), half_w * 0.95, 2.5, 0.017)
    canvas = _over(canvas, f.beard_px * 0.8, _cover(d_stache, f.fpx) * mustache)
    return canvas


def _eyes(canvas: jax.Array, f: Frame) -> jax.Array:
    """Eyes, eyelids, bags, eyebrows, eye makeup."""
    narrow = strength(f.attrs, "Narrow_Eyes")
    eye_h = 0.034 * (1.0 - 0.55 * narrow) * (1.0 + 0.1 * f.young)
    bags = strength(f.attrs, "Bags_Under_Eyes")
    bushy, arched = strength(f.attrs, "Bushy_Eyebrows"), strength(f.attrs, "Arched_Eyebrows")
    for side in (-1.0, 1.0):
        ec = jnp.stack([side * f.ident.eye_spacing, f.ident.eye_height])
        d_bag = _parabola_band(f.p, ec + jnp.array([0.0, eye_h + 0.022]), 0.055, -4.0, 0.012)
        canvas = _over(
            canvas,
            f.skin * jnp.array([0.62, 0.55, 0.62]),
            f.on_face(_cover(d_bag, f.fpx, 2.5)) * bags,
        )
        d_shadow = _ellipse(f.p, ec - jnp.array([0.0, 0.012]), (0.075, eye_h + 0.018))
        canvas = _over(
            canvas,
            jnp.array([0.45, 0.3, 0.5]),
            f.on_face(_cover(d_shadow, f.fpx, 3.0)) * 0.55 * f.makeup,
        )
        d_sclera = _ellipse(f.p, ec, (0.062, eye_h))
        sclera_a = _cover(d_sclera, f.fpx)
        canvas = _over(canvas, jnp.array([0.96, 0.95, 0.93]), sclera_a)
        iris_c = ec + f.nuis.gaze
        iris_a = _cover(_ellipse(f.p, iris_c, (0.03, 0.03)), f.fpx) * sclera_a
        canvas = _over(canvas, f.ident.eye_colour, iris_a)
        canvas = _over(
            canvas,
            jnp.array([0.05, 0.04, 0.04]),
            _cover(_ellipse(f.p, iris_c, (0.013, 0.013)), f.fpx) * sclera_a,
        )
        canvas = _over(
            canvas,
            jnp.ones(3),
            _cover(_ellipse(f.p, iris_c - 0.01, (0.006, 0.006)), f.fpx) * sclera_a,
        )
        lid_t = 0.005 + 0.004 * f.makeup
        d_lid = _parabola_band(
            f.p, ec - jnp.array([0.0, eye_h]), 0.066, 9.0 * eye_h / 0.034 * 0.6, lid_t
        )
        canvas = _over(canvas, jnp.array([0.12, 0.08, 0.07]), _cover(d_lid, f.fpx))

        brow_y = f.ident.eye_height - f.ident.brow_gap - 0.008 * f.male
        brow_t = 0.009 + 0.014 * bushy + 0.004 * f.male
        brow_curve = 3.0 + 18.0 * arched
        d_brow = _parabola_band(
            f.p,
            jnp.stack([side * (f.ident.eye_spacing + 0.01 * arched), brow_y - 0.016 * arched]),
            0.07 + 0.01 * bushy,
            brow_curve,
            brow_t,
        )
        brow_tex = 0.85 + 0.3 * bushy * (_hash(jnp.floor(f.p / f.fpx), f.ident.texture_seed) - 0.5)
        canvas = _over(canvas, f.brow_colour, f.on_face(_cover(d_brow, f.fpx)) * brow_tex)
    return canvas


def _hair_front(canvas: jax.Array, f: Frame) -> jax.Array:
    """Hair on the head with a window for the face; a bald scalp."""
    window_top = -0.38 + 0.2 * strength(f.attrs, "Bangs")
    win_ry = (f.fcy + f.fh - window_top) / 2.0
    d_window = _ellipse(f.p, (0.0, window_top + win_ry), (f.fw - 0.035, win_ry))
    receding = strength(f.attrs, "Receding_Hairline")
    for side in (-1.0, 1.0):
        d_window = jnp.minimum(
            d_window, _ellipse(f.p, (side * 0.2, -0.36), (0.11, 0.12)) + (1.0 - receding) * 1.0
        )
    fringe = 0.015 * strength(f.attrs, "Bangs") * jnp.sin(f.p[..., 0] * 70.0)
    d_skull = _ellipse(f.p, (0.0, -0.06), (f.fw + 0.055, f.fh + 0.06)) + f.wave
    d_cap = jnp.maximum(d_skull, -(d_window + fringe))
    d_cap = jnp.maximum(d_cap, f.p[..., 1] - (0.05 + 0.5 * f.long_hair))
    # Bald: skin dome with a shine and a little hair above the ears.
    scalp = _cover(
        jnp.maximum(_ellipse(f.p, (0.0, -0.05), (f.fw + 0.015, f.fh + 0.03)), f.p[..., 1] - 0.0),
        f.fpx,
    )
    canvas = _over(canvas, f.skin_px, scalp * f.bald)
    shine = jnp.exp(-jnp.sum(((f.p - jnp.array([-0.1, -0.42])) / jnp.array([0.1, 0.05])) ** 2, -1))
    canvas = _over(canvas, jnp.ones(3), shine * scalp * f.bald * 0.35)
    d_fringe = jnp.maximum(d_skull, jnp.abs(f.p[..., 1] - 0.0) - 0.1)
    d_fringe = jnp.maximum(d_fringe, 0.22 - jnp.abs(f.p[..., 0]))
    hair_alpha = _cover(d_cap, f.fpx) * (1.0 - f.bald) + _cover(d_fringe, f.fpx) * f.bald
    shadow = _cover(d_cap - 0.025, f.fpx, 6.0) * (1.0 - f.bald) * f.face_alpha
    canvas = _over(canvas, jnp.zeros(3), shadow * 0.25)
    canvas = _over(canvas, f.hair_px, hair_alpha)
    return canvas


def _earrings(canvas: jax.Array, f: Frame) -> jax.Array:
    """Earrings hang below the lobes, in front of any hair."""
    for side in (-1.0, 1.0):
        d_ring = _ellipse(f.p, (side * (f.fw - 0.005), 0.23), (0.03, 0.034))
        ring = _cover(jnp.abs(d_ring) - 0.009, f.fpx) * strength(f.attrs, "Wearing_Earrings")
        canvas = _over(canvas, f.gold, ring)
    return canvas


def _eyeglasses(canvas: jax.Array, f: Frame) -> jax.Array:
    """Two rims, a bridge, tinted lenses with a glint."""
    glasses = strength(f.attrs, "Eyeglasses")
    frame = jnp.array([0.1, 0.1, 0.12])
    for side in (-1.0, 1.0):
        ec = jnp.stack([side * f.ident.eye_spacing, f.ident.eye_height + 0.005])
        d_lens = _box(f.p, ec, (0.082, 0.058), 0.04)
        canvas = _over(canvas, jnp.array([0.7, 0.8, 0.9]), _cover(d_lens, f.fpx) * 0.18 * glasses)
        glint = _segment(f.p, ec + jnp.array([-0.03, -0.02]), ec + jnp.array([0.0, -0.045]), 0.006)
        canvas = _over(canvas, jnp.ones(3), _cover(glint, f.fpx) * 0.5 * glasses)
        canvas = _over(canvas, frame, _cover(jnp.abs(d_lens) - 0.009, f.fpx) * glasses)
        arm = _segment(
            f.p,
            ec + jnp.array([side * 0.082, -0.02]),
            jnp.stack([side * (f.fw + 0.01), f.ident.eye_height - 0.01]),
            0.008,
        )
        canvas = _over(canvas, frame, _cover(arm, f.fpx) * glasses)
    bridge = _parabola_band(
        f.p, (0.0, f.ident.eye_height - 0.02), f.ident.eye_spacing - 0.08, 3.0, 0.007
    )
    canvas = _over(canvas, frame, _cover(bridge, f.fpx) * glasses)
    return canvas


def _hat(canvas: jax.Array, f: Frame) -> jax.Array:
    """Crown and brim, with the brim's shadow on the forehead."""
    hat = strength(f.attrs, "Wearing_Hat")
    brim_y = -0.33
    d_crown = _box(f.p, (0.0, brim_y - 0.24), (f.fw + 0.02, 0.25), 0.12)
    d_brim = _ellipse(f.p, (0.0, brim_y), (f.fw + 0.2, 0.045))
    hat_col = f.nuis.accessory[None, None, :] * (0.75 + 0.35 * f.shade[..., None])
    brim_shadow = _cover(jnp.abs(f.p[..., 1] - (brim_y + 0.07)) - 0.04, f.fpx, 8.0) * f.face_alpha
    canvas = _over(canvas, jnp.zeros(3), brim_shadow * 0.3 * hat)
    canvas = _over(canvas, hat_col, _cover(jnp.minimum(d_crown, d_brim), f.fpx) * hat)
    band = jnp.maximum(d_crown, jnp.abs(f.p[..., 1] - (brim_y - 0.06)) - 0.025)
    canvas = _over(canvas, f.nuis.accessory * 0.4, _cover(band, f.fpx) * hat)
    return canvas


Layer = Callable[[jax.Array, Frame], jax.Array]
# Back to front: a later layer paints over an earlier one.
LAYERS: tuple[Layer, ...] = (
    _background,
    _hair_behind,
    _neck_and_clothes,
    _necktie,
    _necklace,
    _ears,
    _face,
    _double_chin,
    _age,
    _cheeks,
    _facial_hair,
    _nose,
    _mouth,
    _eyes,
    _hair_front,
    _earrings,
    _eyeglasses,
    _hat,
)


def draw(
    ident: Any, attrs: jax.Array, nuis: Any, size: int, layers: tuple[Layer, ...] = LAYERS
) -> jax.Array:
    """One portrait (size, size, 3) in [0, 1]-ish (before noise and clipping): the layers
    folded over a canvas in order."""
    f = frame(ident, attrs, nuis, size)
    canvas = jnp.zeros((size, size, 3), jnp.float32)
    for layer in layers:
        canvas = layer(canvas, f)
    return canvas
