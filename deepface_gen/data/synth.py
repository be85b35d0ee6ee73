"""Procedural portraits with ground-truth CelebA attributes (docs/methods.md).

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
from deepface_gen.data import portrait

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

_EYE_RGB = np.array(
    [[92, 56, 30], [60, 110, 160], [70, 120, 70], [120, 100, 60], [110, 120, 130]], np.float32
)


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


def _lens(image: jax.Array, attrs: jax.Array, size: int) -> jax.Array:
    """What the lens passes: the drawn scene, blurred where the portrait is Blurry."""
    blurry = portrait.strength(attrs, "Blurry")
    return image + (_gaussian_blur(image, 1.6, size) - image) * blurry


def _sensor(image: jax.Array, nuis: Nuisance) -> jax.Array:
    """What the sensor records: the lens's image plus its Gaussian noise, clipped."""
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
        return _sensor(_lens(portrait.draw(ident, attrs, nuis, size), attrs, size), nuis)

    return jax.vmap(one)(identity, attributes, nuisance)


@functools.partial(jax.jit, static_argnames=("size",))
def render_with_clean(
    identity: Identity, attributes: jax.Array, nuisance: Nuisance, size: int = 64
) -> tuple[jax.Array, jax.Array]:
    """``render``'s portraits and the same portraits without their sensor noise (what
    the lens saw), drawn once: a renderer can learn the scene while the noise, which
    no activation pins down, is added after it."""

    def one(ident, attrs, nuis):
        seen = _lens(portrait.draw(ident, attrs, nuis, size), attrs, size)
        return _sensor(seen, nuis), jnp.clip(seen, 0.0, 1.0)

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


def scene_of_people(
    key: jax.Array, person_ids: jax.Array, num_people: int, people_key: jax.Array
) -> Scene:
    """New photos of chosen people of the fixed pool ``people_key`` names (the pool
    :func:`sample_scene` draws from with the same key): their faces and lasting
    attributes, with this photo's transient attributes and conditions from ``key``."""
    person_ids = jnp.asarray(person_ids, jnp.int32)
    k_attr, k_nuis = jax.random.split(key)
    people = sample_identity(people_key, num_people)
    identity = jax.tree_util.tree_map(lambda a: a[person_ids], people)
    attributes = sample_photo_attributes(k_attr, person_ids, num_people, people_key)
    return Scene(identity, attributes, sample_nuisance(k_nuis, person_ids.shape[0]), person_ids)


def slice_scene(scene: Scene, start: int, stop: int) -> Scene:
    """Portraits ``start:stop`` of a scene."""
    return jax.tree_util.tree_map(lambda a: a[start:stop], scene)


def render_scene(scene: Scene, size: int = 64) -> jax.Array:
    """Render a scene: (N, size, size, 3) float32 in [0, 1]."""
    return render(scene.identity, scene.attributes, scene.nuisance, size=size)


def render_scene_with_clean(scene: Scene, size: int = 64) -> tuple[jax.Array, jax.Array]:
    """A scene's portraits and the same portraits before sensor noise (each as
    ``render_scene``'s)."""
    return render_with_clean(scene.identity, scene.attributes, scene.nuisance, size=size)


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
