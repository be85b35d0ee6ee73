"""The benchmarks' own arithmetic: how faces drawn several times are split into draws
and their distances averaged, and the rates of attributes nobody asked for
(experiments/bench_generate.py); how a learning curve reads its run's critic from the
training log (experiments/bench_inverter.py); how well a critic tells two sets apart
(experiments/bench_critic.py) and how a linear probe reads a network's features
(experiments/probe_separability.py)."""

from __future__ import annotations

import numpy as np
import pytest


def _bench(fixture: str, script: str):
    """A module-scoped fixture ``fixture``: experiments/``script``.py as a module."""
    return pytest.fixture(scope="module", name=fixture)(lambda load_bench: load_bench(script))


bench_generate = _bench("bench_generate", "bench_generate")
bench_inverter = _bench("bench_inverter", "bench_inverter")
bench_critic = _bench("bench_critic", "bench_critic")
probe = _bench("probe", "probe_separability")
spectrum_gap = _bench("spectrum_gap", "spectrum_gap")


def test_draws_take_the_same_seeds_of_every_description(bench_generate):
    groups, seeds, draws = 3, 2, 4
    # face i of description g is numbered 100 * g + i, in description order
    faces = np.asarray([100 * g + i for g in range(groups) for i in range(seeds * draws)])
    sets = bench_generate.draw_subsets(faces, groups, draws)
    assert len(sets) == draws
    assert sets[0].tolist() == [0, 1, 100, 101, 200, 201]
    assert sets[3].tolist() == [6, 7, 106, 107, 206, 207]
    assert sorted(np.concatenate(sets).tolist()) == sorted(faces.tolist())


def test_distances_are_the_mean_over_draws_with_their_range(bench_generate):
    def realism(faces, features=None):  # a stand-in whose distance is the faces' mean
        return {"vgg16_kid": float(np.mean(faces))}

    faces = np.asarray([[0.0, 1.0, 10.0, 11.0], [2.0, 3.0, 12.0, 13.0]]).reshape(-1)
    one = bench_generate.mean_realism(faces, realism, groups=2, draws=1)
    assert one == {"vgg16_kid": pytest.approx(6.5)} and "spread" not in one
    two = bench_generate.mean_realism(faces, realism, groups=2, draws=2)
    # draw 0 holds faces 0, 1, 2, 3 (mean 1.5); draw 1 faces 10 to 13 (mean 11.5)
    assert two["vgg16_kid"] == pytest.approx(6.5)
    assert two["spread"] == {"vgg16_kid": pytest.approx(10.0)}
    assert two["draws"] == 2


def test_unasked_rates_leave_out_the_descriptions_that_name_an_attribute(bench_generate):
    from deepface_gen.attributes import parse_description

    names = ("Smiling", "Eyeglasses")
    specs = [parse_description("smiling"), parse_description("eyeglasses")]
    # Two faces each: the smiling ones both wear glasses; of the glasses ones, one smiles.
    probs = np.asarray([[0.9, 0.8], [0.9, 0.7], [0.2, 0.9], [0.6, 0.9]])
    rates = bench_generate.unasked_rates(probs, names, specs, seeds=2)
    assert rates == {"Smiling": 0.5, "Eyeglasses": 1.0}
    gap = bench_generate.unasked_gap(rates, {"Smiling": 0.5, "Eyeglasses": 0.25}, largest=1)
    assert gap["gap"] == pytest.approx(0.375)
    assert gap["largest"] == {"Eyeglasses": [1.0, 0.25]}


def test_the_unasked_floor_reads_every_portrait_and_its_noise_is_a_perfect_generators(
    bench_generate, monkeypatch
):
    from deepface_gen.attributes import parse_description

    specs = [parse_description("smiling"), parse_description("eyeglasses")]
    per = bench_generate.UNASKED_PORTRAITS

    def portraits_like(specs_, seeds, size):  # portrait i of a description: its index
        assert seeds == per
        return np.arange(len(specs_) * seeds), None, None

    class Judge:  # every fourth eyeglasses portrait smiles; no smiling one wears glasses
        attributes = ("Smiling", "Eyeglasses")

        def outputs(self, portraits):
            smiles = (portraits >= per) & (portraits % 4 == 0)
            glasses = portraits >= per
            return {"probabilities": np.stack([smiles | (portraits < per), glasses], 1) * 1.0}

    monkeypatch.setattr(bench_generate, "portraits_like", portraits_like)
    floor = bench_generate.unasked_floor(specs, seeds=4, size=8, judge=Judge())
    assert floor["floor"] == {"Smiling": 0.25, "Eyeglasses": 0.0}
    assert floor["portraits"] == per
    # Every set of 4 holds exactly one smiling face: a perfect generator's gap is 0.
    assert floor["noise"] == 0.0
    shifted = bench_generate.unasked_floor(specs, seeds=3, size=8, judge=Judge())
    assert shifted["noise"] > 0.0  # sets of 3 hold one smile or none


def test_the_critic_is_read_from_the_log_as_a_fraction_of_chance(bench_inverter, tmp_path):
    import json

    # Logged every 25 steps: at chance (6 = 2 per map, pixels and two layers) up to step
    # 250, then at half of it.
    lines = [{"step": s, "discriminator": 6.0 if s <= 250 else 3.0, "elapsed_s": s / 10}
             for s in range(25, 501, 25)]  # fmt: skip
    lines.insert(3, {"step": 80, "eval_feature": 0.2, "elapsed_s": 8.0})  # no critic logged
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    hinge = {"train": {"gan_loss": "hinge", "critic_features": ["conv2_1", "conv3_1"]}}
    critic = bench_inverter.critic_at(tmp_path, hinge)
    assert critic[250] == pytest.approx(1.0)
    assert critic[500] == pytest.approx(0.5)  # the window (250, 500]: all after the change
    assert critic[375] == pytest.approx(0.5 * 5 / 10 + 1.0 * 5 / 10)  # (125, 375]: half each
    assert 80 not in critic
    logistic = bench_inverter.critic_at(tmp_path, {"train": {"critic_features": []}})
    assert logistic[250] == pytest.approx(6.0 / (2 * np.log(2)))
    assert bench_inverter.critic_at(tmp_path / "gone", hinge) == {}


def test_a_critic_s_separation_is_the_chance_a_real_score_beats_a_redrawn_one(bench_critic):
    ranked_above = bench_critic.ranked_above
    assert ranked_above(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert ranked_above(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert ranked_above(np.ones(3), np.ones(5)) == 0.5  # ties count half
    rng = np.random.default_rng(0)
    real, fake = rng.normal(0.5, 1, 40).round(1), rng.normal(0, 1, 30).round(1)  # with ties
    pairs = (real[:, None] > fake[None]).mean() + 0.5 * (real[:, None] == fake[None]).mean()
    assert ranked_above(real, fake) == pytest.approx(pairs)
    # Per image the patches are averaged first: one bright patch each is a patch-level tell
    # only for those patches, an image-level tell for every image.
    on_real, on_fake = np.zeros((4, 2, 2)), np.zeros((4, 2, 2))
    on_real[:, 0, 0] = 1.0
    verdict = bench_critic.separation(on_real, on_fake)
    assert verdict["image_auc"] == 1.0
    assert verdict["patch_auc"] == pytest.approx(0.5 + 0.5 * 0.25)
    assert verdict["real_mean"] == 0.25 and verdict["redrawn_spread"] == 0.0


def test_a_linear_probe_finds_a_difference_in_texture_and_none_where_there_is_none(probe):
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(5, 4, 4, 3))
    summary = probe.texture_summary(maps)
    assert summary.shape == (5, 6)
    np.testing.assert_allclose(summary[:, :3], maps.mean(axis=(1, 2)))
    np.testing.assert_allclose(summary[:, 3:], maps.std(axis=(1, 2)))
    # Same means, one set grainier: only the spreads tell them apart, and the probe sees it.
    smooth = probe.texture_summary(rng.normal(0, 1.0, (200, 8, 8, 4)))
    grainy = probe.texture_summary(rng.normal(0, 1.3, (200, 8, 8, 4)))
    assert probe.probe_auc(grainy, smooth) > 0.95
    assert probe.probe_auc(smooth, grainy) > 0.95  # it learns which side is which
    same = probe.texture_summary(rng.normal(0, 1.0, (200, 8, 8, 4)))
    assert abs(probe.probe_auc(smooth, same) - 0.5) < 0.15


def test_the_power_spectrum_tells_white_noise_from_smoothed_noise(probe):
    rng = np.random.default_rng(1)
    white = rng.normal(128, 20, (200, 16, 16, 3))
    spectrum = probe.power_spectrum(white)
    assert spectrum.shape == (200, 16 * 9)
    smooth = (white + np.roll(white, 1, axis=1) + np.roll(white, 1, axis=2)) / 3  # less high
    assert probe.probe_auc(probe.power_spectrum(smooth), spectrum) > 0.95
    other = probe.power_spectrum(rng.normal(128, 20, (200, 16, 16, 3)))
    assert abs(probe.probe_auc(other, spectrum) - 0.5) < 0.15


def test_the_radial_spectrum_falls_with_radius_where_an_image_is_smooth(spectrum_gap):
    def radial_log_power(images):
        return spectrum_gap.radial_log_power(spectrum_gap.power_spectrum(images), 32)

    rng = np.random.default_rng(2)
    white = rng.normal(128, 20, (64, 32, 32, 3))
    flat = radial_log_power(white).mean(axis=0)
    assert flat.shape == (24,)  # radii 0 .. round(16 * sqrt(2)) = 23
    # White noise spreads its power evenly; smoothing takes it from the highest radii.
    assert np.ptp(flat[1:-2]) < 0.3  # the last radii hold a few corner frequencies: noisy
    smooth = (white + np.roll(white, 1, axis=1) + np.roll(white, 1, axis=2)) / 3
    gap = radial_log_power(smooth).mean(axis=0) - flat
    assert gap[-1] < gap[2] - 1.0
