import pytest

from deepface_gen import cli
from deepface_gen.data.celeba import read_celeba_folder
from deepface_gen.models import pretrained


def test_attributes_lists_vocabulary(capsys):
    assert cli.main(["attributes"]) == 0
    out = capsys.readouterr().out
    assert "Eyeglasses" in out and "glasses" in out and len(out.splitlines()) == 40


def test_attributes_parse(capsys):
    assert cli.main(["attributes", "--parse", "youth, black hair, male"]) == 0
    assert capsys.readouterr().out.strip() == "+Young,+Black_Hair,+Male"


@pytest.mark.parametrize(
    "text, message",
    [("male,female", "contradictory"), ("blnd hair", "did you mean Blond_Hair"), ("", "empty")],
)
def test_attributes_parse_errors_are_one_line(capsys, text, message):
    assert cli.main(["attributes", "--parse", text]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("deepface-gen: error:")


def test_synth_command_writes_celeba_folder(tmp_path, capsys):
    out = tmp_path / "synth"
    assert (
        cli.main(
            ["synth", "--n", "12", "--size", "32", "--seed", "2", "--out", str(out), "--quiet"]
        )
        == 0
    )
    assert "wrote 12 portraits" in capsys.readouterr().out
    assert len(read_celeba_folder(out).filenames) == 12
    assert (out / "contact_sheet.png").exists()
    layout = tmp_path / "layout"
    assert cli.main(["synth", "--n", "4", "--celeba-layout", "--out", str(layout), "--quiet"]) == 0
    assert (layout / "list_landmarks_align_celeba.txt").exists()


def test_weights_download_offline_is_clear(monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise pretrained.urllib.error.URLError("offline")

    monkeypatch.setattr(pretrained.urllib.request, "urlopen", offline)
    assert cli.main(["weights", "download", "vgg16", "--quiet"]) == 2
    assert "deepface-gen weights import PATH" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["generate", "--attrs", "smiling"], ["score", "x.png"]])
def test_a_published_backbone_is_not_offered_as_a_face_model(command, capsys):
    assert cli.main([*command, "--model", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert "vgg16 is a published backbone with no attribute heads" in err and "train" in err


@pytest.mark.parametrize(("command", "options"), [("generate", "GenerateOptions"),
                                                  ("edit", "EditOptions")])  # fmt: skip
def test_a_request_option_is_written_once_and_offered_everywhere(command, options, capsys):
    """Every field of a request dataclass is a command-line option, with its range and
    its help from the dataclass; the server's request model takes the same names."""
    import dataclasses

    from deepface_gen.generation import requests
    from deepface_gen.serving.routes.generate import GenerateRequest

    cls = getattr(requests, options)
    assert cli.main([command, "--help"]) == 0
    shown = capsys.readouterr().out
    for item in dataclasses.fields(cls):
        assert f"--{item.name.replace('_', '-')}" in shown, item.name
        assert item.metadata["help"].split()[0] in shown
    if cls is requests.GenerateOptions:
        assert {f.name for f in dataclasses.fields(cls)} <= set(GenerateRequest.model_fields)
    high = next(f for f in dataclasses.fields(cls) if f.name == "steps").metadata["high"]
    given = ["x.png", "--out", "o.png"] if command == "edit" else []
    assert cli.main([command, *given, "--attrs", "smiling", "--steps", str(high + 1)]) == 2
    assert f"{high + 1}" in capsys.readouterr().err  # refused by the range written there


def test_weights_import_bad_file(tmp_path, capsys):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert cli.main(["weights", "import", str(bad)]) == 2
    assert "not a readable HDF5" in capsys.readouterr().err


def test_weights_list_says_what_is_installed(capsys, isolated_home):
    assert cli.main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {isolated_home}" in out
    assert "vgg16    not installed" in out and "vggface  not installed" in out
    cached = pretrained.cached_weights_path("vgg16")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stand-in")
    assert cli.main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"vgg16    installed at {cached}" in out and "vggface  not installed" in out


def test_attributes_marks_what_a_model_knows(capsys):
    assert cli.main(["attributes", "--model", "starter"]) == 0
    out = capsys.readouterr().out
    assert "- Attractive" in out and "- Male" not in out and "not learned" in out


def _generate_in_subprocess(tiny_bundle, home, *extra):
    import os
    import subprocess
    import sys

    # Every program cached (none left out for compiling fast), so "adds nothing" is exact.
    env = {
        **os.environ,
        "DEEPFACE_GEN_HOME": str(home),
        "DEEPFACE_GEN_COMPILATION_CACHE_MIN_SECONDS": "0",
    }
    env.pop("DEEPFACE_GEN_COMPILATION_CACHE", None)  # the user's default: on
    command = [sys.executable, "-m", "deepface_gen.cli.main", *extra, "generate", "--attrs",
               "smiling", "--model", str(tiny_bundle), "--steps", "2", "--quiet",
               "--out", str(home / "face.png")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_cli_keeps_compiled_programs_on_disk_unless_told_not_to(tiny_bundle, tmp_path):
    cached = tmp_path / "cached"
    _generate_in_subprocess(tiny_bundle, cached)
    entries = list((cached / "xla").iterdir())
    assert entries, "the render loop's compiled program should be in the cache folder"
    _generate_in_subprocess(tiny_bundle, cached)  # a second process reads, compiles nothing
    assert sorted(p.name for p in (cached / "xla").iterdir()) == sorted(p.name for p in entries)


def test_no_compilation_cache_flag_leaves_the_cache_off(tiny_bundle, tmp_path, monkeypatch):
    # In this process (the cache may already be on from other tests): the flag's wiring.
    from deepface_gen.io import compilation_cache

    enabled = []
    monkeypatch.delenv("DEEPFACE_GEN_COMPILATION_CACHE", raising=False)  # the user's default
    monkeypatch.setattr(compilation_cache, "enable_compilation_cache", lambda: enabled.append(1))
    command = ["generate", "--attrs", "smiling", "--model", str(tiny_bundle), "--steps", "2",
               "--quiet", "--out", str(tmp_path / "face.png")]  # fmt: skip
    assert cli.main(["--no-compilation-cache", *command]) == 0 and not enabled
    assert (tmp_path / "face.png").exists()
    assert cli.main(command) == 0 and enabled == [1]


def test_evaluate_on_the_endless_synthetic_source_needs_no_count(tiny_bundle, tmp_path, capsys):
    """Without --n the synthetic source (endless) is evaluated on 4096 portraits, as the
    help says, instead of failing."""
    import json

    report = tmp_path / "eval.json"
    command = ["evaluate", "--model", str(tiny_bundle), "--json", str(report), "--quiet"]
    assert cli.main(command) == 0
    counts = json.loads(report.read_text())["per_attribute"]["Male"]
    assert counts["positives"] + counts["negatives"] == 4096


def test_show_settings_piped_into_head_ends_quietly():
    """Output closed early (``| head -3``) while argparse is still printing is not a
    traceback: the reader took what it wanted."""
    import subprocess
    import sys

    shell = f"{sys.executable} -m deepface_gen.cli.main train-inverter --show-settings | head -2"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.stdout.splitlines()[0].startswith("setting")
    assert "Traceback" not in done.stderr and done.returncode == 0
