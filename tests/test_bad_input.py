"""Bad input is refused before any work: exit status 2, one line naming the culprit,
no traceback, nothing written. One parametrized test per class of mistake."""

from __future__ import annotations

import os

import numpy as np
import pytest

from deepface_gen import cli
from deepface_gen.errors import DeepFaceGenError
from deepface_gen.io.images import write_image


def _refused(capsys, tmp_path, argv, culprit):
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("deepface-gen: error:") and "Traceback" not in err
    assert culprit in lines[0], (culprit, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    return lines[0]


NUMBERS = [
    (["--attrs", "smiling=nan"], "Smiling=nan"),
    (["--attrs", "smiling=inf"], "Smiling=inf"),
    (["--attrs", "male, blond hair=-inf"], "Blond_Hair=-inf"),
    (["--attrs", "smiling", "--guidance", "nan"], "--guidance"),
    (["--attrs", "smiling", "--temperature", "inf"], "--temperature"),
    (["--attrs", "smiling=9"], "Smiling=9"),
]
RANGES = [
    (["--attrs", "smiling", "--n", "0"], "--n"),
    (["--attrs", "smiling", "--n", "-1"], "--n"),
    (["--attrs", "smiling", "--n", "100000"], "--n"),
    (["--attrs", "smiling", "--n", "2.5"], "--n"),
    (["--attrs", "smiling", "--size", "-5"], "--size"),
    (["--attrs", "smiling", "--size", "7"], "--size"),
    (["--attrs", "smiling", "--steps", "0"], "--steps"),
    (["--attrs", "smiling", "--steps", "-1"], "--steps"),
    (["--attrs", "smiling", "--temperature", "-1"], "--temperature"),
    (["--attrs", "smiling", "--seed", "-3"], "--seed"),
]
OUTPUTS = [
    (["--attrs", "smiling", "--out", "face.xyz"], "'.xyz'; use .png, .jpg, .jpeg (or end it"),
    (["--attrs", "smiling", "--out", "faces/", "--grid", "grid.xyz"], "grid.xyz"),
    (["--attrs", "smiling", "--out", "a_file.txt/face.png"], "a_file.txt is a file"),
]
WORDS = [
    (["--attrs", "male,female"], "contradictory"),
    (["--attrs", "blnd hair"], "did you mean Blond_Hair"),
    (["--attrs", ""], "empty"),
]


@pytest.mark.parametrize("args, culprit", NUMBERS + RANGES + OUTPUTS + WORDS)
def test_generate_refuses_before_any_work(args, culprit, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file.txt").write_text("not a folder")
    _refused(capsys, tmp_path, ["generate", *args, "--quiet"], culprit)


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["rank", "PHOTOS", "--by", "smiling", "--out", "r.png", "--json", "a_folder"],
         "--json a_folder is a folder"),
        (["tsne", "PHOTOS", "--color-by", "male", "--out", "t.png", "--json", "a_folder"],
         "--json a_folder is a folder"),
        (["crop-search", "PHOTOS/0.png", "--by", "smiling", "--out", "c.png", "--json",
          "a_file.txt/c.json"], "a_file.txt is a file"),
        (["train-inverter", "--config", "configs/inverter_starter.py", "--workdir", "wd",
          "--attach", "no_bundle"], "no_bundle: not a model bundle"),
        (["train-vae", "--config", "configs/vae_starter.py", "--workdir", "wd",
          "--attach", "no_bundle"], "no_bundle: not a model bundle"),
    ],
)  # fmt: skip
def test_every_output_path_is_checked_before_any_work(args, culprit, capsys, tmp_path,
                                                      monkeypatch):  # fmt: skip
    """The --json of rank, tsne and crop-search and the --attach of the trainers are
    checked before reading, scoring or training: nothing is written, not even --out."""
    from pathlib import Path

    from deepface_gen.io.images import write_image

    root = Path(__file__).resolve().parents[1]
    photos = tmp_path / "PHOTOS"
    photos.mkdir()
    for i in range(3):
        write_image(photos / f"{i}.png", np.full((32, 32, 3), 60 * i, np.uint8))
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file.txt").write_text("not a folder")
    args = [str(root / a) if a.startswith("configs/") else a for a in args]
    monkeypatch.chdir(tmp_path)
    _refused(capsys, tmp_path, args, culprit)


def test_out_is_a_folder_unless_it_ends_in_an_extension_of_letters(tmp_path):
    """A dot in a folder's name (a temperature, a version) does not make it a file."""
    from deepface_gen.cli.common import check_outputs, names_file, write_faces

    assert names_file("face.png") and names_file("face.xyz") and names_file("a.b/face.PNG")
    assert not names_file("faces_t1.0") and not names_file("faces.png/")
    assert not names_file("faces") and not names_file("run.2026-12-07")
    out = tmp_path / "faces_t1.0"
    check_outputs(str(out), None)
    faces = np.zeros((2, 8, 8, 3), np.uint8)
    written = write_faces(faces, str(out), None, "face.png")
    assert written == [str(out / "face_000.png"), str(out / "face_001.png")]
    one = write_faces(faces[:1], str(tmp_path / "one.png"), None, "face.png")
    assert one == [str(tmp_path / "one.png")]


def test_a_long_unknown_word_is_not_echoed_whole(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _refused(capsys, tmp_path, ["generate", "--attrs", "x" * 10_000], "unknown attribute")
    assert len(line) < 300


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(capsys, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.chdir(tmp_path)
    _refused(
        capsys,
        tmp_path,
        ["generate", "--attrs", "smiling", "--out", "locked/f.png"],
        "not writable",
    )


@pytest.fixture
def portrait_folder(tmp_path):
    folder = tmp_path / "portraits"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(folder / f"good{i}.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


@pytest.mark.parametrize(
    "args, culprit",
    [
        (["--attrs", "+smiling", "--strength", "nan"], "--strength"),
        (["--attrs", "+smiling", "--sweep", "0,nan"], "--sweep"),
        (["--attrs", "+smiling", "--sweep", "0,big"], "--sweep"),
        (["--attrs", "+smiling", "--batch-size", "0"], "--batch-size"),
        (["--attrs", "+smiling=nan"], "Smiling=nan"),
        (["--attrs", "+smiling", "--box", "1,2,3"], "--box"),
    ],
)
def test_edit_refuses_before_any_work(args, culprit, capsys, tmp_path, portrait_folder):
    out = tmp_path / "edited"
    _refused(capsys, tmp_path, ["edit", str(portrait_folder), *args, "--out", str(out)], culprit)


def test_edit_of_a_file_into_an_unknown_type_is_refused(capsys, tmp_path, portrait_folder):
    image = portrait_folder / "good0.png"
    _refused(capsys, tmp_path, ["edit", str(image), "--attrs", "+smiling", "--out",
                                str(tmp_path / "x.xyz")], "x.xyz")  # fmt: skip


def test_edit_of_a_folder_skips_bad_files_edits_the_good_and_says_so(
    capsys, tmp_path, portrait_folder, tiny_bundle
):
    out = tmp_path / "edited"
    argv = ["edit", str(portrait_folder), "--attrs", "+smiling", "--out", str(out),
            "--model", str(tiny_bundle), "--steps", "2", "--quiet"]  # fmt: skip
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "1 of 3 images" in err and "2 edited" in err
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png"]


@pytest.mark.parametrize(
    "override, culprit",
    [
        ("train.steps=abc", "train.steps"),
        ("train.steps=5.5", "train.steps"),
        ("model.width=wide", "model.width"),
        ("train.freeze=conv", "train.freeze"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.learning_rate=-1", "train.learning_rate"),
        ("model.backbone=resnet", "model.backbone"),
        ("data.size=7", "data.size"),
    ],
)
def test_train_refuses_bad_config_values_before_creating_anything(
    override, culprit, capsys, tmp_path
):
    work = tmp_path / "run"
    argv = ["train", "--config", "configs/starter.py", "--workdir", str(work), override]
    _refused(capsys, tmp_path, argv, culprit)
    assert not work.exists()


@pytest.mark.parametrize(
    "command, config, override, culprit",
    [
        ("train-vae", "vae_starter", "train.pixel_sigma=0.0", "train.pixel_sigma"),
        ("train-vae", "vae_starter", "train.beta=1e999", "train.beta"),
        ("train-vae", "vae_starter", "model.latent=0", "model.latent"),
        ("train-inverter", "inverter_starter", "model.widths=[0,0,0]", "model.widths"),
        ("train-identity", "identity", "model.scale=1e999", "model.scale"),
        ("train-identity", "identity", "model.scale=0", "model.scale"),
        ("train", "starter", "train.warmup_steps=-5", "train.warmup_steps"),
        ("train", "starter", "train.weight_decay=-1", "train.weight_decay"),
        ("train-inverter", "inverter_starter", "train.learning_rate=-1", "train.learning_rate"),
    ],
)
def test_every_trainer_checks_every_setting_against_its_range(
    command, config, override, culprit, capsys, tmp_path
):
    """Each setting out of its declared range (``Task.schema``) is refused in one line
    naming it, before a work directory exists (these once trained on NaN, divided by
    zero, or were taken silently)."""
    work = tmp_path / "run"
    argv = [command, "--config", f"configs/{config}.py", "--workdir", str(work), override]
    _refused(capsys, tmp_path, argv, culprit)
    assert not work.exists()


@pytest.mark.parametrize(
    "args, culprit",
    [(["--n", "0"], "--n"), (["--size", "7"], "--size"), (["--n", "many"], "--n")],
)
def test_synth_refuses_before_any_work(args, culprit, capsys, tmp_path):
    _refused(capsys, tmp_path, ["synth", *args, "--out", str(tmp_path / "s")], culprit)


def test_python_api_refuses_the_same_things(tiny_bundle):
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load(tiny_bundle)
    for kwargs, culprit in [
        ({"n": 0}, "n must"), ({"n": 2.5}, "n must"), ({"n": True}, "n must"),
        ({"steps": 0}, "steps"), ({"temperature": float("nan")}, "temperature"),
        ({"guidance": -1}, "guidance"), ({"description": []}, "no description"),
        ({"description": np.zeros((0, 40))}, "no description"),
        ({"description": np.full(40, np.nan)}, "=nan"),
    ]:  # fmt: skip
        kwargs = {"description": "smiling", **kwargs}
        with pytest.raises(DeepFaceGenError, match=culprit):
            gen.generate(**kwargs)
    face = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(DeepFaceGenError, match="at least one strength"):
        gen.edit(face[None], "+smiling", strengths=())
    with pytest.raises(DeepFaceGenError, match="strength must be a finite"):
        gen.edit(face[None], "+smiling", strengths=(float("nan"),))
    with pytest.raises(DeepFaceGenError, match="at least 16"):
        gen.invert(np.zeros((5, 5, 3), np.uint8))


@pytest.mark.parametrize(
    "damage, culprit",
    [
        (lambda m: [m], "a manifest is a JSON object, not a list"),
        (lambda m: {k: v for k, v in m.items() if k != "backbone"}, "no 'backbone' entry"),
        (lambda m: {**m, "head": "flatten"}, "'head' must be a dict"),
        (lambda m: {**m, "files": {"../../etc/passwd": "0" * 64}}, "inside the bundle folder"),
        (lambda m: {**m, "backbone": {"name": "x"}}, "malformed architecture"),
    ],
)
def test_malformed_manifests_are_refused_naming_the_problem(
    damage, culprit, tiny_bundle, tmp_path, capsys
):
    import json
    import shutil

    model = shutil.copytree(tiny_bundle, tmp_path / "model")
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps(damage(manifest)))
    assert cli.main(["score", str(tmp_path / "x.png"), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert culprit in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path):
    from test_train import tiny_config

    from deepface_gen.training.classifier import train_and_evaluate
    from deepface_gen.training.loop import CHECKPOINT_DIR

    cfg = tiny_config(steps=6, checkpoint_every=2)
    assert train_and_evaluate(cfg, tmp_path, quiet=True, max_steps=4) is None
    folders = sorted((tmp_path / CHECKPOINT_DIR).glob("step_*"))
    assert [f.name for f in folders] == ["step_00000002", "step_00000004"]

    def damage(folder):  # a disk that lost the second half of every array file
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size > 64 and "config" not in path.parts:
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    damage(folders[-1])
    with pytest.warns(
        UserWarning, match="skipped damaged checkpoint.*step_00000004.*step_00000002"
    ):
        bundle = train_and_evaluate(cfg, tmp_path, resume=True, quiet=True)
    assert bundle is not None and (bundle / "manifest.json").exists()
    for folder in (tmp_path / CHECKPOINT_DIR).glob("step_*"):
        damage(folder)
    with pytest.raises(DeepFaceGenError, match="every checkpoint is damaged"):
        train_and_evaluate(cfg, tmp_path, resume=True, quiet=True)


def test_altered_checkpoints_are_caught_by_their_checksums(tmp_path):
    """64 flipped bytes keep a checkpoint's size and often its format: the sha256 seal
    written when it was finished catches them, and resume falls back a step."""
    import json

    from test_train import tiny_config

    from deepface_gen.training.classifier import train_and_evaluate
    from deepface_gen.training.loop import CHECKPOINT_DIR, SEAL_FILE

    cfg = tiny_config(steps=6, checkpoint_every=2)
    assert train_and_evaluate(cfg, tmp_path, quiet=True, max_steps=4) is None
    folders = sorted((tmp_path / CHECKPOINT_DIR).glob("step_*"))
    sealed = json.loads((folders[-1] / SEAL_FILE).read_text())
    assert sealed and all(len(digest) == 64 for digest in sealed.values())
    largest = max((p for p in folders[-1].rglob("*") if p.name != SEAL_FILE and p.is_file()),
                  key=lambda p: p.stat().st_size)  # fmt: skip
    data = bytearray(largest.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    largest.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="step_00000004 \\(checksum mismatch.*step_00000002"):
        bundle = train_and_evaluate(cfg, tmp_path, resume=True, quiet=True)
    assert bundle is not None


def test_a_model_trained_on_four_labelled_columns_knows_four_attributes(tmp_path, capsys):
    from test_train import tiny_config

    from deepface_gen.models.classifier import load_classifier
    from deepface_gen.training.classifier import train_and_evaluate

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = ["file,Male,Smiling,Eyeglasses,Bald"]
    for i in range(16):
        write_image(folder / f"{i}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        bald = "1" if i == 0 else "-1"  # one bald face: too few to learn from
        rows.append(f"{i}.png,{1 if i % 2 else -1},{1 if i % 3 else -1},{1 if i < 8 else 0},{bald}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    cfg = tiny_config(steps=2, balance_batches=2)
    cfg.data.source = f"csv:{folder}:{tmp_path / 'labels.csv'}"
    bundle = train_and_evaluate(cfg, tmp_path / "run", quiet=True)
    model = load_classifier(bundle)
    assert model.known_attributes == ("Eyeglasses", "Male", "Smiling")
    image = write_image(tmp_path / "q.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    assert cli.main(["score", str(image), "--model", str(bundle), "--all"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(listed) == ["Eyeglasses", "Male", "Smiling"]


def test_images_outside_the_training_domain_are_named_not_refused(tmp_path, capsys, tiny_bundle):
    import jax

    from deepface_gen.data import synth
    from deepface_gen.generation.generator import FaceGenerator, OutOfDomainWarning

    starter = FaceGenerator.load()
    assert starter.domain_threshold is not None
    portraits = synth.to_uint8(synth.sample_portraits(jax.random.key(808), 24, size=64).images)
    noise = np.random.default_rng(3).integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    assert (starter.domain_distance(portraits) <= starter.domain_threshold).mean() >= 0.95
    assert (starter.domain_distance(noise) > starter.domain_threshold).all()

    rendered = write_image(tmp_path / "rendered.png", portraits[0])
    photo = write_image(tmp_path / "noise.png", noise[0])
    assert cli.main(["score", str(rendered), str(photo), "--json"]) == 0  # scored, not refused
    captured = capsys.readouterr()
    import json

    scores = json.loads(captured.out)
    assert scores[str(rendered)]["in_domain"] and not scores[str(photo)]["in_domain"]
    warnings = [line for line in captured.err.splitlines() if line.strip()]
    assert (
        len(warnings) == 1
        and "noise.png lies outside what this model was trained on" in warnings[0]
    )
    with pytest.warns(OutOfDomainWarning, match="image 0 lies outside"):
        starter.edit(noise[:1], "+smiling", steps=1)
    # The same verdict as data, for a service or a command line to word its own way.
    report = starter.edit_report(np.concatenate([noise[:1], portraits[:1]]), "+smiling")
    assert report.images.shape[:2] == (2, 1) and report.distances.shape == (2,)
    assert report.distances[0] > report.threshold > report.distances[1]
    said = report.messages(["noise.png", "rendered.png"])
    assert "noise.png lies outside" in said[0] and said[1] is None
    assert FaceGenerator.load(tiny_bundle).domain_threshold > 0  # every fit calibrates one
