"""The tools that read what the classifier has learned from collections of faces:
rank and continuum sheets, best-crop search and t-SNE maps."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from deepface_gen import cli
from deepface_gen.analysis import crops, feature_map, ranking
from deepface_gen.attributes import ATTRIBUTE_INDEX, as_spec
from deepface_gen.data import synth
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import fit_to_model, read_image, write_image
from deepface_gen.models.classifier import load_classifier


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 rendered portraits at 80 px and one file that is not an image."""
    root = tmp_path_factory.mktemp("faces")
    faces = synth.to_uint8(synth.sample_portraits(jax.random.key(5), 24, size=80).images)
    for i, face in enumerate(faces):
        write_image(root / f"face_{i:02d}.png", face)
    (root / "broken.jpg").write_text("not an image")
    return root


def test_combined_score_is_the_weighted_mean_of_signed_logits():
    logits = np.zeros((2, 40))
    spec = as_spec("smiling, -eyeglasses")
    smiling, glasses = ATTRIBUTE_INDEX["Smiling"], ATTRIBUTE_INDEX["Eyeglasses"]
    logits[0, smiling], logits[0, glasses] = 4.0, -2.0  # smiles, no glasses
    logits[1, smiling], logits[1, glasses] = -4.0, 2.0
    np.testing.assert_allclose(ranking.combined_score(logits, spec), [3.0, -3.0])
    with pytest.raises(DeepFaceGenError, match="at least one attribute"):
        ranking.combined_score(logits, as_spec({"smiling": 0.0}))


def test_orders_and_extremes():
    scores = np.array([0.5, -1.0, 2.0, 0.0, 2.0])
    np.testing.assert_array_equal(ranking.ranked(scores), [2, 4, 0, 3, 1])
    top, bottom = ranking.extremes(scores, 2)
    np.testing.assert_array_equal(top, [2, 4])
    np.testing.assert_array_equal(bottom, [1, 3])
    np.testing.assert_array_equal(ranking.continuum_order(scores), [1, 3, 0, 4, 2])
    spread = ranking.continuum_order(np.arange(100.0), sample=5)
    np.testing.assert_array_equal(spread, [0, 25, 50, 74, 99])


def test_rank_cli_sorts_by_the_printed_score_and_skips_bad_files(folder, tmp_path, capsys):
    out, scores = tmp_path / "sheet.png", tmp_path / "scores.json"
    args = ["rank", str(folder), "--by", "smiling, -eyeglasses", "--top", "4"]
    assert cli.main([*args, "--out", str(out), "--json", str(scores), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"scored 24 images from {folder} (1 skipped, named above)" in captured.out
    assert "broken.jpg" in captured.err
    payload = json.loads(scores.read_text())
    values = [entry["score"] for entry in payload["ranked"]]
    assert values == sorted(values, reverse=True) and len(values) == 24
    # The printed best is the first of the JSON, with the same score.
    best = payload["ranked"][0]
    assert f"{best['score']:+.3f}  {best['path']}" in captured.out
    # And the score is what the classifier says of that image.
    classifier = load_classifier()
    image = fit_to_model(read_image(best["path"]), classifier.input_size)
    logits = classifier.outputs(image[None])["attributes"]
    expected = ranking.combined_score(logits, as_spec("smiling, -eyeglasses"))[0]
    assert expected == pytest.approx(best["score"], abs=1e-3)
    sheet = read_image(out)
    assert sheet.shape[1] > 4 * 64 and sheet.shape[0] > 2 * 64  # two rows of 4 faces
    assert cli.main(["rank", str(folder), "--by", "smilling", "--out", str(out)]) == 2
    assert "did you mean" in capsys.readouterr().err.lower()


def test_folder_commands_find_portraits_where_synth_writes_them(tmp_path, capsys):
    """`synth --out F` writes F/contact_sheet.png and the portraits in
    F/img_align_celeba/: rank reads the portraits, not the sheet, and says where from;
    --recursive reads every subfolder too."""
    made = tmp_path / "made"
    assert cli.main(["synth", "--n", "6", "--out", str(made), "--quiet"]) == 0
    capsys.readouterr()
    out = tmp_path / "r.png"
    args = ["rank", str(made), "--by", "smiling", "--top", "2", "--out", str(out), "--quiet"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert f"scored 6 images from {made / 'img_align_celeba'} (0 skipped" in printed
    assert "contact_sheet" not in printed
    assert cli.main([*args, "--recursive"]) == 0
    assert f"scored 7 images from {made} (0 skipped" in capsys.readouterr().out
    empty = tmp_path / "empty"
    (empty / "inner").mkdir(parents=True)
    assert cli.main(["rank", str(empty), "--by", "smiling", "--out", str(out)]) == 2
    assert "--recursive also looks in subfolders" in capsys.readouterr().err


def test_continuum_writes_one_page_lowest_first(folder, tmp_path):
    out = tmp_path / "continuum.png"
    args = ["continuum", str(folder), "--by", "young", "--out", str(out), "--columns", "6"]
    assert cli.main([*args, "--quiet"]) == 0
    assert read_image(out).shape[1] >= 6 * 64


def test_crop_grid_holds_the_plain_centre_crop():
    grid = crops.CropGrid()
    params = grid.parameters(100, 80)
    side, cx, cy, angle = params[grid.centre_index()]
    assert (side, cx, cy, angle) == (80.0, 40.0, 50.0, 0.0)
    with pytest.raises(DeepFaceGenError, match="must be odd"):
        crops.CropGrid(positions=4)
    with pytest.raises(DeepFaceGenError, match="plain centre crop"):
        crops.CropGrid(scales=(0.8,))


def test_extracted_centre_crop_matches_the_model_s_own_centre_crop():
    image = synth.to_uint8(synth.sample_portraits(jax.random.key(2), 1, size=64).images)[0]
    grid = crops.CropGrid(scales=(1.0,), positions=1, angles=(0.0,))
    cut = crops.extract_crops(image.astype(np.float32), grid.parameters(64, 64), 64)
    # Same side, same place: resampling 64 -> 64 is the identity.
    np.testing.assert_allclose(np.asarray(cut[0]), image, atol=1.0)


def test_best_crop_scores_at_least_the_centre_crop(folder, tmp_path, capsys):
    photo = folder / "face_03.png"
    out, numbers = tmp_path / "crop.png", tmp_path / "crop.json"
    args = ["crop-search", str(photo), "--by", "smiling", "--positions", "5"]
    assert cli.main([*args, "--out", str(out), "--json", str(numbers)]) == 0
    result = json.loads(numbers.read_text())
    assert result["crops"] == 5 * 5 * 5 * 3
    assert result["best"]["score"] >= result["centre_crop_score"]
    assert result["gain_over_centre_crop"] == pytest.approx(
        result["best"]["score"] - result["centre_crop_score"]
    )
    assert result["crops_per_second"] > 0 and len(result["heat"]) == 5
    assert read_image(out).shape[0] >= 160
    # A tight crop can lie outside what the model saw: then its score is flagged.
    flagged = "the best crop lies outside" in capsys.readouterr().err
    assert result["best"]["domain_distance"] > 0 and flagged != result["best"]["in_domain"]
    assert cli.main([*args, "--out", str(out), "--scales", "0.8"]) == 2
    assert "plain centre crop" in capsys.readouterr().err
    # A picture unlike any portrait: its crops' scores are flagged as unreliable.
    noise = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    write_image(tmp_path / "noise.png", noise)
    one = ["--positions", "1", "--scales", "1", "--angles", "0", "--out", str(out)]
    assert cli.main(["crop-search", str(tmp_path / "noise.png"), "--by", "smiling", *one]) == 0
    assert "the best crop lies outside" in capsys.readouterr().err


def test_snap_to_grid_gives_every_point_its_own_cell_and_keeps_neighbours():
    points = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 5.0]])
    cells, columns = feature_map.snap_to_grid(points)
    assert columns == 3 and len(set(cells)) == 5
    rows, cols = np.divmod(cells, columns)
    assert (cols[0], rows[0]) == (0, 0) and (cols[3], rows[3]) == (2, 1)


def test_tsne_maps_a_folder_and_synthetic_faces(folder, tmp_path, capsys):
    out = tmp_path / "map.png"
    assert cli.main(["tsne", str(folder), "--color-by", "male", "--out", str(out),
                     "--json", str(tmp_path / "map.json"), "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "map_grid.png").exists()
    payload = json.loads((tmp_path / "map.json").read_text())
    assert len(payload["points"]) == 24 and len(payload["paths"]) == 24
    assert cli.main(["tsne", "--synthetic", "12", "--color-by", "young", "--out", str(out)]) == 0
    assert cli.main(["tsne", "--color-by", "male", "--out", str(out)]) == 2
    assert "FOLDER or --synthetic" in capsys.readouterr().err
    assert (
        cli.main(["tsne", "--synthetic", "12", "--color-by", "male, young", "--out", str(out)]) == 2
    )
    with pytest.raises(DeepFaceGenError, match="at least 5 images"):
        feature_map.embed(np.zeros((3, 4)))


def test_every_collection_command_refuses_an_attribute_the_model_never_learned(
    folder, tmp_path, capsys
):
    photo = str(sorted(folder.glob("*.png"))[0])
    out = str(tmp_path / "x.png")
    for argv in (["rank", str(folder), "--by", "attractive", "--quiet"],
                 ["crop-search", photo, "--by", "smiling, attractive"],
                 ["tsne", str(folder), "--color-by", "attractive", "--quiet"]):  # fmt: skip
        assert cli.main([*argv, "--out", out]) == 2, argv
        assert "has not learned Attractive" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_colour_bars_carry_ticks_and_a_label():
    from deepface_gen.analysis.drawing import colormap, colour_bar

    bar = colour_bar(300, 0.0, 1.0, "probability of male")
    assert bar.dtype == np.uint8 and bar.shape[1] == 300
    # The ramp runs from the map's dark end to its bright end across the bar.
    np.testing.assert_array_equal(bar[5, 24], colormap(np.array([0.0]), 0.0, 1.0)[0])
    np.testing.assert_array_equal(bar[5, 300 - 25], colormap(np.array([1.0]), 0.0, 1.0)[0])
    # Tick numbers and the label are drawn in black below it.
    assert (bar[14:].max(axis=-1) < 80).sum() > 50
    unlabelled = colour_bar(300, 0.0, 1.0, "")
    assert (bar[30:] != unlabelled[30:]).any()


def test_rank_says_how_many_images_lie_outside_the_training_domain(tmp_path, capsys):
    import shutil

    photos = tmp_path / "photos"
    shutil.copytree(Path(__file__).parents[1] / "experiments" / "photos", photos)
    out = tmp_path / "r.png"
    assert cli.main(["rank", str(photos), "--by", "smiling", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 of them lie outside what the model was trained on" in printed
