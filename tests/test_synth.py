import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen.attributes import ATTRIBUTE_INDEX as A
from deepface_gen.attributes import HAIR_COLOURS
from deepface_gen.data import portrait, synth

SIZE = 64


@pytest.fixture(scope="module")
def portraits():
    p = synth.sample_portraits(jax.random.key(11), 6, size=SIZE)
    # Keep blur off so each attribute's change stays where it is drawn.
    scene = p.scene._replace(attributes=p.scene.attributes.at[:, A["Blurry"]].set(-1.0))
    return synth.Portraits(synth.render_scene(scene, SIZE), scene)


def test_shapes_range_dtype(portraits):
    assert portraits.images.shape == (6, SIZE, SIZE, 3)
    images = np.asarray(portraits.images)
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 1
    assert synth.to_uint8(portraits.images).dtype == np.uint8


def test_deterministic_per_seed_and_batch_independent():
    a = synth.sample_portraits(jax.random.key(3), 4, size=32).images
    b = synth.sample_portraits(jax.random.key(3), 4, size=32).images
    c = synth.sample_portraits(jax.random.key(4), 4, size=32).images
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.abs(np.asarray(a) - np.asarray(c)).mean() > 0.05
    scene = synth.sample_scene(jax.random.key(3), 4)
    whole = synth.render_scene(scene, 32)
    part = synth.render_scene(synth.slice_scene(scene, 2, 4), 32)
    np.testing.assert_allclose(np.asarray(whole[2:]), np.asarray(part), atol=1e-5)


def test_any_size():
    scene = synth.sample_scene(jax.random.key(0), 2)
    assert synth.render_scene(scene, 100).shape == (2, 100, 100, 3)


def _changed_rows(before, after, threshold=0.02):
    diff = np.abs(np.asarray(before) - np.asarray(after)).max(axis=-1)  # (N, H, W)
    return diff > threshold


@pytest.mark.parametrize(
    "attribute, rows",
    [
        ("Eyeglasses", (0.30, 0.66)),
        ("Smiling", (0.52, 0.82)),
        ("Wearing_Lipstick", (0.55, 0.80)),
        ("Wearing_Hat", (0.0, 0.60)),
        ("Narrow_Eyes", (0.38, 0.60)),
        ("Mustache", (0.52, 0.75)),
        ("Wearing_Necktie", (0.80, 1.0)),
    ],
)
def test_counterfactual_changes_only_its_region(portraits, attribute, rows):
    off = synth.counterfactual(portraits, attribute, -1.0)
    on = synth.counterfactual(portraits, attribute, 1.0)
    changed = _changed_rows(off, on)
    assert changed.mean(axis=(1, 2)).min() > 0.002, "the attribute must be visible on every face"
    ys = np.nonzero(changed.any(axis=(0, 2)))[0] / SIZE
    assert ys.min() >= rows[0] and ys.max() <= rows[1], (ys.min(), ys.max())
    # The photo's corners (background) never change.
    assert not changed[:, :4, :4].any() and not changed[:, :4, -4:].any()


def test_counterfactual_keeps_everything_when_value_unchanged(portraits):
    same = synth.counterfactual(portraits, "Smiling", portraits.attributes[0, A["Smiling"]])
    np.testing.assert_allclose(np.asarray(same[0]), np.asarray(portraits.images[0]), atol=1e-6)


def test_attribute_sampling_follows_co_occurrence():
    attrs = np.asarray(synth.sample_attributes(jax.random.key(0), 20000)) > 0
    male, young = attrs[:, A["Male"]], attrs[:, A["Young"]]
    assert 0.35 < male.mean() < 0.5 and 0.7 < young.mean() < 0.85
    beard = ~attrs[:, A["No_Beard"]]
    for facial in (beard, attrs[:, A["Goatee"]], attrs[:, A["Mustache"]]):
        assert not facial[~male].any()
    lipstick = attrs[:, A["Wearing_Lipstick"]]
    assert lipstick[~male].mean() > 0.4 and lipstick[male].mean() < 0.02
    gray = attrs[:, A["Gray_Hair"]]
    assert gray[~young].mean() > 5 * gray[young].mean()
    colours = attrs[:, [A[h] for h in HAIR_COLOURS]].sum(axis=1)
    assert colours.max() <= 1
    bald = attrs[:, A["Bald"]]
    assert not (bald & attrs[:, A["Bangs"]]).any()
    assert not (attrs[:, A["Wavy_Hair"]] & attrs[:, A["Straight_Hair"]]).any()


def test_people_keep_lasting_attributes_across_photos():
    scene = synth.sample_scene(jax.random.key(5), 400, num_people=20)
    attrs, ids = np.asarray(scene.attributes), np.asarray(scene.person_ids)
    for person in np.unique(ids):
        rows = attrs[ids == person]
        assert (rows[:, A["Male"]] == rows[0, A["Male"]]).all()
        assert (rows[:, A["Big_Nose"]] == rows[0, A["Big_Nose"]]).all()
    # ...and transient ones vary.
    assert len(np.unique(attrs[:, A["Smiling"]][ids == ids[0]])) == 2


def test_drawn_attributes_change_the_picture_and_undrawn_ones_do_not():
    assert synth.UNDRAWN_ATTRIBUTES == ("Attractive",)
    assert set(synth.DRAWN_ATTRIBUTES) | set(synth.UNDRAWN_ATTRIBUTES) == set(A)
    assert not set(synth.DRAWN_ATTRIBUTES) & set(synth.UNDRAWN_ATTRIBUTES)
    portraits = synth.sample_portraits(jax.random.key(3), 6, size=32)
    for name in A:
        changed = [
            np.abs(np.asarray(synth.counterfactual(portraits, name, value)) - portraits.images).max(
                axis=(1, 2, 3)
            )
            for value in (-1.0, 1.0)
        ]
        moved = np.maximum(*changed)  # per portrait: did either setting redraw it?
        if name in synth.DRAWN_ATTRIBUTES:
            assert (moved > 0).any(), f"{name} is listed as drawn but never changes a pixel"
        else:
            assert (moved == 0).all(), f"{name} is listed as undrawn but changes pixels"


# --- the renderer as an ordered fold of layers (data/portrait.py)


def _one_scene(attribute: str, value: float):
    scene = synth.sample_scene(jax.random.key(17), 1)
    attrs = scene.attributes.at[:, A[attribute]].set(value)
    take = lambda tree: jax.tree_util.tree_map(lambda x: x[0], tree)  # noqa: E731
    return take(scene.identity), attrs[0], take(scene.nuisance)


def test_layers_are_in_z_order_and_the_fold_is_the_renderer():
    names = [layer.__name__ for layer in portrait.LAYERS]
    assert names[0] == "_background" and names[-1] == "_hat"
    assert names.index("_face") < names.index("_eyes") < names.index("_hair_front")
    assert names.index("_hair_behind") < names.index("_face")
    ident, attrs, nuis = _one_scene("Smiling", 1.0)
    drawn = portrait.draw(ident, attrs, nuis, 32)
    rendered = synth.render(
        jax.tree_util.tree_map(lambda x: x[None], ident), attrs[None],
        jax.tree_util.tree_map(lambda x: x[None], nuis), 32,
    )[0]  # fmt: skip
    # The renderer is the fold plus blur and sensor noise: close, not equal.
    assert float(jnp.abs(jnp.clip(drawn, 0, 1) - rendered).mean()) < 0.05


@pytest.mark.parametrize(
    "layer, attribute",
    [("_eyeglasses", "Eyeglasses"), ("_hat", "Wearing_Hat"), ("_necktie", "Wearing_Necktie"),
     ("_necklace", "Wearing_Necklace"), ("_earrings", "Wearing_Earrings"),
     ("_double_chin", "Double_Chin")],
)  # fmt: skip
def test_each_accessory_layer_alone_draws_only_when_its_attribute_is_on(layer, attribute):
    draw_layer = getattr(portrait, layer)
    canvas = jnp.full((32, 32, 3), 0.5)
    for value, changes in ((-1.0, False), (1.0, True)):
        f = portrait.frame(*_one_scene(attribute, value), 32)
        moved = float(jnp.abs(draw_layer(canvas, f) - canvas).max())
        assert (moved > 0.05) == changes, (layer, value, moved)


def test_leaving_a_layer_out_changes_only_its_part_of_the_picture():
    ident, attrs, nuis = _one_scene("Eyeglasses", 1.0)
    whole = portrait.draw(ident, attrs, nuis, 48)
    without = portrait.draw(
        ident, attrs, nuis, 48, tuple(x for x in portrait.LAYERS if x is not portrait._eyeglasses)
    )
    changed = np.abs(np.asarray(whole - without)).max(-1) > 1e-3
    rows = np.flatnonzero(changed.any(1))
    assert changed.any() and changed.mean() < 0.25  # glasses cover a band, not the picture
    assert rows.min() > 5 and rows.max() < 40  # around the eyes, not the chin or the top


def test_a_portrait_without_its_sensor_noise_is_the_recorded_one_before_the_noise():
    scene = synth.sample_scene(jax.random.key(7), 8)
    recorded, clean = (np.asarray(a) for a in synth.render_scene_with_clean(scene, 32))
    np.testing.assert_array_equal(recorded, np.asarray(synth.render_scene(scene, 32)))
    sigma = np.asarray(scene.nuisance.noise_sigma)
    silent = scene._replace(nuisance=scene.nuisance._replace(noise_sigma=jnp.zeros_like(sigma)))
    np.testing.assert_array_equal(clean, np.asarray(synth.render_scene(silent, 32)))
    # What lies between them is each photo's own Gaussian noise (where nothing clipped).
    inside = (clean > 0.1) & (clean < 0.9)
    spread = np.array([np.std((recorded - clean)[i][inside[i]]) for i in range(8)])
    np.testing.assert_allclose(spread, sigma, rtol=0.15, atol=1e-3)
