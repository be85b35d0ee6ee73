import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepface_gen.attributes import ATTRIBUTE_INDEX as A
from deepface_gen.cgmm import fitting, statistics
from deepface_gen.cgmm import model as cg
from deepface_gen.data import input_pipeline
from deepface_gen.data.input_pipeline import SyntheticSource
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.models.classifier import load_classifier


@pytest.fixture(scope="module")
def setup(tiny_bundle):
    clf = load_classifier(tiny_bundle)
    src = SyntheticSource(size=16, batch_size=16, seed=4)
    return clf, src


def test_statistics_equal_direct_numpy(setup):
    clf, src = setup
    stats = statistics.collect(clf, src, "conv2_1", 32)
    batches = [src.batch(0), src.batch(1)]
    acts = np.concatenate(
        [
            np.asarray(clf.apply(b.images, taps=("conv2_1",))["conv2_1"], np.float64).reshape(
                16, -1
            )
            for b in batches
        ]
    )
    labels = np.concatenate([b.attributes for b in batches])
    for i in (A["Male"], A["Smiling"]):
        for polarity, group in ((1, labels[:, i] > 0), (0, labels[:, i] <= 0)):
            assert stats.count[polarity, i] == group.sum()
            np.testing.assert_allclose(
                stats.mean[polarity, i], acts[group].mean(0), rtol=1e-4, atol=1e-5
            )
            np.testing.assert_allclose(
                stats.variance[polarity, i], acts[group].var(0), rtol=1e-3, atol=1e-4
            )
    x = np.concatenate([labels, np.ones((32, 1))], 1)
    np.testing.assert_allclose(stats.gram, x.T @ x)
    np.testing.assert_allclose(stats.cross, x.T @ acts, rtol=1e-4, atol=1e-4)
    images = np.concatenate([b.images for b in batches]).astype(np.float64)
    np.testing.assert_allclose(stats.mean_image, images.mean(0))


def test_merging_halves_equals_one_pass(setup):
    clf, src = setup
    whole = statistics.collect(clf, src, "conv2_1", 32)

    class Shifted:  # the second half of the same stream
        batch_size, num_examples = 16, None

        def batch(self, step):
            return src.batch(step + 1)

    merged = statistics.collect(clf, src, "conv2_1", 16).merge(
        statistics.collect(clf, Shifted(), "conv2_1", 16)
    )
    for name, value in whole.arrays().items():
        np.testing.assert_allclose(getattr(merged, name), value, rtol=1e-9, atol=1e-6)


def _stats_from(labels: np.ndarray, acts: np.ndarray) -> statistics.ActivationStats:
    """Statistics of given labels/activations via the same batch kernel, one batch."""
    stats = statistics.ActivationStats.empty("x", (acts.shape[1],), 2)
    part = statistics.batch_statistics(
        acts.astype(np.float32),
        labels.astype(np.float32),
        np.ones_like(labels, bool),
        np.ones(len(labels), bool),
    )
    for name, value in part.items():
        getattr(stats, name).__iadd__(np.asarray(value, np.float64))
    stats.images = len(labels)
    return stats


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    labels = rng.choice([-1.0, 1.0], size=(400, 40))
    truth = rng.normal(size=(41, 6))
    acts = np.concatenate([labels, np.ones((400, 1))], 1) @ truth
    ridge = fitting.fit_ridge(_stats_from(labels, acts), l2=1e-6)
    np.testing.assert_allclose(ridge, truth, atol=1e-3)


def test_paper_weights_solved_exactly():
    rng = np.random.default_rng(1)
    mu = np.abs(rng.normal(size=(40, 30))) + 0.5
    w_true = rng.uniform(0.5, 2.0, size=40)
    present = rng.random((2000, 40)) < 0.3
    present[present.sum(1) == 0, 0] = True
    labels = np.where(present, 1.0, -1.0)
    acts = (present * w_true) @ mu / present.sum(1, keepdims=True)
    stats = _stats_from(labels, acts)
    stats.total[1] = mu * stats.count[1][:, None]  # the Gaussians' means are mu
    w = fitting.fit_paper_weights(stats, l2=1e-9)
    np.testing.assert_allclose(w, w_true, rtol=1e-3)


def test_fill_in_follows_co_occurrence():
    rng = np.random.default_rng(2)
    n = 4000
    labels = rng.choice([-1.0, 1.0], size=(n, 40))
    male = labels[:, A["Male"]] > 0
    labels[:, A["Wearing_Lipstick"]] = np.where(male, -1.0, np.where(rng.random(n) < 0.8, 1, -1))
    labels[:, A["No_Beard"]] = np.where(male & (rng.random(n) < 0.6), -1.0, 1.0)
    stats = _stats_from(labels, np.zeros((n, 1)))
    mean, cov = fitting.attribute_moments(stats)
    model = cg.CGMM(
        "x",
        (1,),
        np.zeros((41, 1)),
        mean,
        cov,
        np.zeros((1, 1)),
        np.zeros(1),
        np.zeros((2, 40, 1)),
        np.zeros((2, 40, 1)),
        np.ones(40),
        np.zeros((2, 2, 3)),
        np.ones((2, 40)),
    )
    values, named = np.zeros(40), np.zeros(40, bool)
    values[A["Male"]], named[A["Male"]] = 1.0, True
    as_man = cg.fill_in(model, values, named)
    values[A["Male"]] = -1.0
    as_woman = cg.fill_in(model, values, named)
    assert as_man[A["Male"]] == 1.0 and as_woman[A["Male"]] == -1.0
    assert as_man[A["Wearing_Lipstick"]] < -0.8 < 0.4 < as_woman[A["Wearing_Lipstick"]]
    assert as_man[A["No_Beard"]] < as_woman[A["No_Beard"]]
    assert abs(as_man[A["Smiling"]] - as_woman[A["Smiling"]]) < 0.1  # unrelated stays put


def test_targets_seeded_and_diverse(tiny_bundle):
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load(tiny_bundle)
    values, named = np.zeros(40), np.zeros(40, bool)
    values[A["Smiling"]], named[A["Smiling"]] = 1.0, True
    key = jax.random.key(0)
    for method in cg.METHODS:
        a = np.asarray(cg.targets(gen.cgmm, values, named, key, 3, method))
        b = np.asarray(cg.targets(gen.cgmm, values, named, key, 3, method))
        assert a.shape == (3, *gen.cgmm.shape) and (a >= 0).all()
        np.testing.assert_array_equal(a, b)
        assert np.abs(a[0] - a[1]).mean() > 1e-4  # samples differ within one call
    # Temperature 0 draws no residual: each face is the ridge's prediction for its
    # completed attributes, the same for every face where nothing is borrowed.
    cold = np.asarray(cg.targets(gen.cgmm, values, named, key, 2, "conditional", 0.0))
    borrowed = np.asarray(cg.completions_many(gen.cgmm, values[None], named[None], key[None], 2))
    ridge = np.concatenate([borrowed[0], np.ones((2, 1))], axis=1) @ gen.cgmm.ridge
    np.testing.assert_allclose(cold.reshape(2, -1), np.maximum(ridge, 0), rtol=1e-4, atol=1e-5)
    plain = dataclasses.replace(gen.cgmm, exemplars=None)
    cold = np.asarray(cg.targets(plain, values, named, key, 2, "conditional", 0.0))
    np.testing.assert_allclose(cold[0], cold[1])
    with pytest.raises(DeepFaceGenError, match="unknown cGMM method"):
        cg.targets(gen.cgmm, values, named, key, 1, "magic")


def test_completions_borrow_agreeing_portraits_labels(tiny_bundle):
    from deepface_gen.cgmm.exemplars import Exemplars
    from deepface_gen.generation.generator import FaceGenerator

    cgmm = FaceGenerator.load(tiny_bundle).cgmm
    rng = np.random.default_rng(5)
    labels = np.where(rng.random((64, 40)) < 0.5, 1.0, -1.0).astype(np.float32)
    labels[:, A["Wearing_Lipstick"]] = -labels[:, A["Male"]]  # the women here wear it
    coordinates = np.zeros((64, len(cgmm.component_std)), np.float32)
    cgmm = dataclasses.replace(cgmm, exemplars=Exemplars(labels, coordinates))
    values, named = np.zeros((2, 40), np.float32), np.zeros((2, 40), bool)
    values[:, A["Male"]], named[:, A["Male"]] = (1.0, -1.5), True
    keys = jax.random.split(jax.random.key(3), 2)
    drawn = np.asarray(cg.completions_many(cgmm, values, named, keys, 200))
    assert drawn.shape == (2, 200, 40)
    np.testing.assert_array_equal(drawn[:, :, A["Male"]], [[1.0] * 200, [-1.5] * 200])
    unnamed = np.delete(drawn, A["Male"], axis=2)
    as_rows = np.delete(labels, A["Male"], axis=1)
    for face in unnamed.reshape(-1, 39):  # each face is one portrait's whole set
        assert (face == as_rows).all(axis=1).any()
    assert (drawn[0, :, A["Wearing_Lipstick"]] == -1).all()  # only men lend to "male"
    assert (drawn[1, :, A["Wearing_Lipstick"]] == 1).all()
    assert len({tuple(face) for face in drawn[0]}) > 10  # faces borrow from many men
    np.testing.assert_array_equal(drawn, cg.completions_many(cgmm, values, named, keys, 200))
    # Alone, each description draws what it drew in the batch.
    alone = cg.completions_many(cgmm, values[1:], named[1:], keys[1:], 200)
    np.testing.assert_array_equal(drawn[1:], alone)
    # Without exemplars every face is the Gaussian's expectation.
    plain = dataclasses.replace(cgmm, exemplars=None)
    filled = np.asarray(cg.completions_many(plain, values, named, keys, 3))
    np.testing.assert_allclose(filled[0], np.tile(cg.fill_in(plain, values[0], named[0]), (3, 1)))


def test_anchors_are_the_leading_coordinates_of_the_portrait_that_lends_the_labels(tiny_bundle):
    from deepface_gen.cgmm.exemplars import Exemplars
    from deepface_gen.generation.generator import FaceGenerator

    cgmm = FaceGenerator.load(tiny_bundle).cgmm
    width = len(cgmm.component_std)
    labels = np.where(np.random.default_rng(6).random((32, 40)) < 0.5, 1.0, -1.0)
    coordinates = np.arange(32 * width, dtype=np.float32).reshape(32, width)  # row r: r * P...
    cgmm = dataclasses.replace(cgmm, exemplars=Exemplars(labels.astype(np.float32), coordinates))
    values, named = np.zeros((1, 40), np.float32), np.zeros((1, 40), bool)
    keys = jax.random.split(jax.random.key(4), 1)
    completions, anchors = cg.borrowed_many(cgmm, values, named, keys, 50, anchored=2)
    assert anchors.shape == (1, 50, 2)
    rows = np.asarray(anchors)[0, :, 0] // width  # which portrait each face's anchors are
    np.testing.assert_array_equal(np.asarray(anchors)[0], coordinates[rows.astype(int), :2])
    np.testing.assert_array_equal(np.asarray(completions)[0], labels[rows.astype(int)])
    np.testing.assert_array_equal(completions, cg.completions_many(cgmm, values, named, keys, 50))
    # The mixture anchors its faces (at most all coordinates but one); the others do not.
    borrowed = cg.ANCHORED_COORDINATES + cgmm.border_anchored
    assert cg.anchored_count(cgmm, "mixture") == min(borrowed, width - 1)
    assert cg.anchored_count(cgmm, "conditional") == 0
    assert cg.anchored_count(dataclasses.replace(cgmm, exemplars=None), "mixture") == 0
    unanchored = dataclasses.replace(cgmm, anchored=0, border_anchored=0)
    assert cg.anchored_count(unanchored, "mixture") == 0


def test_sample_completions_keep_named_values_and_co_occurrence():
    rng = np.random.default_rng(3)
    n = 6000
    labels = np.where(rng.random((n, 40)) < 0.5, 1.0, -1.0)
    male = labels[:, A["Male"]] > 0
    labels[:, A["Wearing_Lipstick"]] = np.where(male, -1.0, np.where(rng.random(n) < 0.8, 1, -1))
    labels[:, A["Bald"]] = np.where(rng.random(n) < 0.05, 1.0, -1.0)

    class Moments:
        attribute_mean = labels.mean(0)
        attribute_cov = np.cov(labels, rowvar=False)

    values, named = np.zeros(40, np.float32), np.zeros(40, bool)
    values[A["Male"]], named[A["Male"]] = -1.0, True
    women = cg.sample_completions(Moments, values, named, jax.random.key(0), 3000)
    assert women.shape == (3000, 40) and np.all(women[:, A["Male"]] == -1.0)
    assert set(np.unique(women)) <= {-1.0, 1.0}
    assert np.mean(women[:, A["Wearing_Lipstick"]] > 0) > 0.6  # most women here wear it
    values[A["Male"]] = 1.0
    men = cg.sample_completions(Moments, values, named, jax.random.key(0), 3000)
    assert np.mean(men[:, A["Wearing_Lipstick"]] > 0) < 0.1
    assert abs(np.mean(men[:, A["Bald"]] > 0) - 0.05) < 0.02  # a rare attribute stays rare
    again = cg.sample_completions(Moments, values, named, jax.random.key(0), 3000)
    np.testing.assert_array_equal(men, again)


def test_collect_counts_exactly_n_examples(tiny_bundle):
    from deepface_gen.data.input_pipeline import SyntheticSource
    from deepface_gen.models.classifier import load_classifier

    clf = load_classifier(tiny_bundle)
    stats = statistics.collect(clf, SyntheticSource(size=16, batch_size=8, seed=0), "conv2_1", 13)
    assert stats.images == 13
    assert stats.gram[-1, -1] == 13  # the constant column counts examples, not batch rows
    assert stats.count.sum(0).max() == 13  # each labelled attribute seen 13 times at most


def test_cli_fit_and_refit_a_bundle(tiny_bundle, tmp_path, capsys):
    import shutil

    from deepface_gen import cli
    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.io import bundles

    model = shutil.copytree(tiny_bundle, tmp_path / "model")
    args = ["fit", "--model", str(model), "--layer", "conv2_1", "--batch-size", "16", "--quiet",
            "--pca-examples", "48", "--mixture", "2", "--mixture-examples", "48"]  # fmt: skip
    assert cli.main([*args, "--n", "40", "--components", "12"]) == 0
    assert "fitted cGMM at conv2_1" in capsys.readouterr().out
    assert FaceGenerator.load(model).cgmm.components.shape[0] == 12
    first = bundles.verify_bundle(model)["cgmm"]
    assert first["examples"] == 40 and (model / first["file"]).exists()
    assert cli.main([*args, "--n", "56", "--seed", "1"]) == 0
    second = bundles.verify_bundle(model)["cgmm"]
    assert second["examples"] == 56 and second["file"] != first["file"]
    assert not (model / first["file"]).exists()  # the replaced file is gone
    refitted = FaceGenerator.load(model).cgmm
    assert refitted.layer == "conv2_1"
    assert refitted.components.shape[0] == 47  # the default 64, capped at 48 residuals - 1
    assert cli.main(["fit", "--model", str(model), "--layer", "conv9_9", "--quiet"]) == 2
    assert "no layer" in capsys.readouterr().err


def test_streamed_pca_matches_an_exact_pca_from_replayed_batches():
    from sklearn.decomposition import PCA

    from deepface_gen.cgmm.pca import streamed_pca

    rng = np.random.default_rng(0)
    scales = np.array([10.0, 6.0, 4.0, 2.0, 1.0])
    basis = np.linalg.qr(rng.normal(size=(300, 5)))[0].T  # 5 orthonormal directions
    rows = (rng.normal(size=(1000, 5)) * scales) @ basis + 0.05 * rng.normal(size=(1000, 300))
    rows += 3.0  # an offset the PCA must centre away
    exact = PCA(n_components=5).fit(rows)
    reads = []

    def passes():  # batches of 37 rows, the last one short
        reads.append(1)
        return (rows[i : i + 37] for i in range(0, 1000, 37))

    got, std = streamed_pca(passes, 5)
    assert got.shape == (5, 300) and len(reads) == 4  # sketch, one power iteration, project
    overlap = np.abs(got @ exact.components_.T)  # cosines between matching directions
    assert np.all(np.diag(overlap) > 0.99)
    np.testing.assert_allclose(got @ got.T, np.eye(5), atol=1e-4)
    assert np.allclose(std, np.sqrt(exact.explained_variance_), rtol=0.03)
    again, _ = streamed_pca(passes, 5)
    np.testing.assert_array_equal(again, got)  # seeded sketch: same rows, same basis
    # Few rows: the sketch spans them all, an exact PCA with at most rows - 1 components.
    few, few_std = streamed_pca(lambda: [rows[:4]], 5)
    small = PCA(n_components=3).fit(rows[:4])
    assert few.shape == (3, 300) and few_std.shape == (3,)
    np.testing.assert_allclose(few_std, np.sqrt(small.explained_variance_), rtol=1e-4)
    with pytest.raises(ValueError, match="at least 2 rows"):
        streamed_pca(lambda: [rows[:1]], 5)
    grown = iter([[rows[:40]], [rows[:50]]])
    with pytest.raises(ValueError, match="rows changed between passes"):
        streamed_pca(lambda: next(grown, [rows[:50]]), 5)


def test_kahan_sums_keep_float32_precision_where_plain_float32_drifts():
    total = {"x": jnp.full((3,), 1e4, jnp.float32)}
    lost = {"x": jnp.zeros((3,), jnp.float32)}
    step = {"x": jnp.full((3,), 0.01, jnp.float32)}
    plain = jnp.full((3,), 1e4, jnp.float32)
    for _ in range(1000):
        total, lost = statistics.kahan_add(total, lost, step)
        plain = plain + step["x"]
    exact = 1e4 + 1000 * np.float64(np.float32(0.01))
    compensated = statistics.compensated_total(total, lost)["x"]
    assert np.allclose(compensated, exact, rtol=1e-9)
    assert abs(float(plain[0]) - exact) > 100 * abs(compensated[0] - exact)


def test_device_statistics_match_a_float64_host_sum(tiny_bundle):
    classifier = load_classifier(tiny_bundle)
    source = SyntheticSource(size=16, batch_size=16, seed=4)
    stats = statistics.collect(classifier, source, "conv2_1", num_examples=40)
    reference: dict[str, np.ndarray] = {}
    for batch in input_pipeline.epoch(source, 40):
        acts = classifier.apply(batch.images, taps=("conv2_1",))["conv2_1"]
        part = statistics.batch_statistics(
            acts.reshape(len(acts), -1), jnp.asarray(batch.attributes),
            jnp.asarray(batch.label_mask), jnp.asarray(batch.valid_rows),
        )  # fmt: skip
        for name, value in jax.device_get(part).items():
            reference[name] = reference.get(name, 0.0) + np.asarray(value, np.float64)
    for name, value in reference.items():
        assert np.allclose(getattr(stats, name), value, rtol=1e-6, atol=1e-4), name
    assert stats.images == 40 and stats.count.sum() > 0
