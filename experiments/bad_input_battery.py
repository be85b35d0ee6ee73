"""A battery of bad inputs, wider than the tests: how each one ends.

    python experiments/bad_input_battery.py [--out experiments/results]

Every case runs the command line in-process (``cli.main``) or the Python API in a
fresh folder and is classed as: ``refused`` (exit 2, one 'deepface-gen: error:' line,
nothing written), ``handled`` (the documented non-refusal: a warning, a skip count,
exit 0 or 1), ``traceback`` (an exception escaped) or ``wrong`` (accepted silently).
Writes ``bad_input_battery.json`` with the counts and every case's outcome.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from deepface_gen import cli
from deepface_gen.errors import DeepFaceGenError

G = ["generate", "--steps", "2", "--quiet"]


def cli_cases(folder: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, expected outcome)."""
    img = folder / "ok.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(img)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("hello")
    Image.new("L", (64, 64), 90).save(folder / "gray.png")
    Image.new("RGBA", (64, 64), (10, 20, 30, 0)).save(folder / "rgba.png")
    Image.new("RGB", (5, 5)).save(folder / "tiny.png")
    Image.new("I;16", (64, 64), 40000).save(folder / "deep.png")
    (folder / "a_file").write_text("x")
    bad_numbers = ["nan", "inf", "-inf", "1e400", "abc", "", "0x10"]
    cases = []
    for v in bad_numbers:
        cases.append((f"attrs smiling={v}", [*G, "--attrs", f"smiling={v}"], "refused"))
    # 1e-400 is 0.0 in floating point: a named attribute at strength 0, a valid request.
    cases.append(("attrs smiling=1e-400", [*G, "--attrs", "smiling=1e-400"], "handled"))
    for opt, values in {
        "--n": ["0", "-1", "2.5", "100000", "nan", "1e3"], "--size": ["-5", "7", "0", "99999"],
        "--steps": ["0", "-1", "1e9"], "--temperature": ["-1", "nan", "99"],
        "--guidance": ["nan", "-1", "1e9"], "--seed": ["-1", "x", "1.5"],
        "--input-size": ["0", "5"],
    }.items():  # fmt: skip
        for v in values:
            cases.append((f"generate {opt} {v}", [*G, "--attrs", "smiling", opt, v], "refused"))
    words_list = ["male,female", "blnd hair", "", ",,,", "x" * 10000, "bald, bangs",
                  "smiling, not smiling", "smiling=", "+-+smiling=2=3", "🙂",
                  "attractive"]  # fmt: skip
    for words in words_list:
        cases.append((f"attrs {words[:20]!r}", [*G, "--attrs", words], "refused"))
    for out in ["face.xyz", str(folder / "a_file" / "face.png"), "faces/x.gif"]:
        cases.append((f"--out {out}", [*G, "--attrs", "smiling", "--out", out], "refused"))
    for out in ["dir.png/", "."]:  # folders: the faces go inside
        cases.append((f"--out {out}", [*G, "--attrs", "smiling", "--out", out], "handled"))
    cases.append(("--grid x.xyz", [*G, "--attrs", "smiling", "--grid", "x.xyz"], "refused"))
    for method, choice in [("--method", "magic"), ("--backend", "gan"), ("--init", "noise")]:
        cases.append((f"{method} {choice}", [*G, "--attrs", "smiling", method, choice], "refused"))
    cases.append(("--model missing", [*G, "--attrs", "smiling", "--model", "nope"], "refused"))
    for name in ["corrupt.jpg", "empty.png", "text.png", "tiny.png", "missing.png", "."]:
        cases.append((f"score {name}", ["score", str(folder / name)], "refused"))
        cases.append((f"invert {name}", ["invert", str(folder / name), "--steps", "2",
                                         "--quiet"], "refused"))  # fmt: skip
    for name in ["gray.png", "rgba.png", "deep.png"]:
        cases.append((f"score {name}", ["score", str(folder / name)], "handled"))
    edit_options = [("--strength", "nan"), ("--strength", "99"), ("--sweep", "0,nan"),
                    ("--sweep", "a,b"), ("--sweep", ",".join(["1"] * 40)), ("--batch-size", "0"),
                    ("--box", "1,2,3"), ("--box", "1,2,3,x"),
                    ("--box", "0,0,9999,9999")]  # fmt: skip
    for opt, v in edit_options:
        argv = ["edit", str(img), "--attrs", "+smiling", opt, v, "--out", "e.png", "--steps", "2",
                "--quiet"]  # fmt: skip
        cases.append((f"edit {opt} {v}", argv, "refused"))
    cases.append(("edit out of type", ["edit", str(img), "--attrs", "+smiling", "--out", "e.xyz"],
                  "refused"))  # fmt: skip
    cases.append(("edit missing", ["edit", "missing.png", "--attrs", "+smiling", "--out", "e.png"],
                  "refused"))  # fmt: skip
    for override in ["train.steps=abc", "train.steps=5.5", "train.steps=0", "model.width=wide",
                     "model.width=16.0", "train.freeze=conv", "train.batch_size=0",
                     "train.learning_rate=nan", "train.learning_rate=-1", "data.size=7",
                     "model.backbone=resnet", "model.dtype=float8", "nosuch.key=1", "seed=-1",
                     "train.stpes=3", "train"]:  # fmt: skip
        cases.append((f"train {override}", ["train", "--config", "configs/starter.py",
                                            "--workdir", "w", override], "refused"))  # fmt: skip
    cases.append(("train missing config", ["train", "--config", "nope.py", "--workdir", "w"],
                  "refused"))  # fmt: skip
    for opt, v in [("--n", "0"), ("--n", "-3"), ("--size", "7"), ("--size", "100000"),
                   ("--people", "0")]:  # fmt: skip
        cases.append((f"synth {opt} {v}", ["synth", opt, v, "--out", "s"], "refused"))
    for opt, v in [("--n", "0"), ("--batch-size", "0"), ("--data", "nosuch:source")]:
        cases.append((f"evaluate {opt} {v}", ["evaluate", opt, v, "--n", "8"] if opt != "--n"
                      else ["evaluate", opt, v], "refused"))  # fmt: skip
    cases.append(("visualize both", ["visualize", "--attr", "smiling", "--unit", "conv1_1:0"],
                  "refused"))  # fmt: skip
    cases.append(("visualize bad unit", ["visualize", "--unit", "conv9:1", "--steps", "2"],
                  "refused"))  # fmt: skip
    cases.append(("visualize unit range", ["visualize", "--unit", "conv3_1:99999", "--steps",
                                           "2"], "refused"))  # fmt: skip
    cases.append(("weights import missing", ["weights", "import", "missing.h5"], "refused"))
    # A published backbone has no attribute heads: say so, not "no model".
    cases.append(("generate --model vgg16", [*G, "--attrs", "smiling", "--model", "vgg16"],
                  "refused"))  # fmt: skip
    cases.append(("score --model vgg16", ["score", str(folder / "ok.png"), "--model", "vgg16"],
                  "refused"))  # fmt: skip
    cases.append(("weights import text", ["weights", "import", str(folder / "text.png")],
                  "refused"))  # fmt: skip
    # The learned renderer, the mixture and the collection tools.
    cases.append(("--render sketch", [*G, "--attrs", "smiling", "--render", "sketch"], "refused"))
    cases.append(("--render net --method baseline",
                  [*G, "--attrs", "smiling", "--render", "net", "--method", "baseline"],
                  "refused"))  # fmt: skip
    net_vae = [*G, "--attrs", "smiling", "--render", "net", "--init", "vae"]
    cases.append(("--render net --init vae", net_vae, "refused"))
    for override in ["model.widths=[8]", "model.layer=conv9_1", "data.size=32",
                     "train.feature_layers=['conv0']", "train.projected_fraction=2",
                     "model.classifier=nope"]:  # fmt: skip
        argv = ["train-inverter", "--config", "configs/inverter_starter.py", "--workdir", "w"]
        cases.append((f"train-inverter {override}", [*argv, override], "refused"))
    # Settings out of their declared ranges (each trainer's Task.schema), in every trainer.
    for command, config, override in [
            ("train-vae", "vae_starter", "train.pixel_sigma=0.0"),
            ("train-vae", "vae_starter", "train.beta=1e999"),
            ("train-vae", "vae_starter", "model.latent=0"),
            ("train-inverter", "inverter_starter", "model.widths=[0,0,0]"),
            ("train-inverter", "inverter_starter", "model.widths=[]"),
            ("train-identity", "identity", "model.scale=1e999"),
            ("train-identity", "identity", "model.scale=0"),
            ("train", "starter", "train.warmup_steps=-5"),
            ("train", "starter", "train.weight_decay=-1")]:  # fmt: skip
        argv = [command, "--config", f"configs/{config}.py", "--workdir", "w", override]
        cases.append((f"{command} {override}", argv, "refused"))
    cases.append(("fit --mixture 0 --mixture-only", ["fit", "--model", "nope", "--mixture-only",
                  "--mixture", "0"], "refused"))  # fmt: skip
    (folder / "faces").mkdir()
    for name in ["ok.png", "corrupt.jpg", "text.png"]:
        (folder / "faces" / name).write_bytes((folder / name).read_bytes())
    (folder / "nothing").mkdir()
    cases.append(("rank bad folder", ["rank", "missing", "--by", "smiling", "--out", "r.png"],
                  "refused"))  # fmt: skip
    cases.append(("rank empty folder", ["rank", str(folder / "nothing"), "--by", "smiling",
                  "--out", "r.png"], "refused"))  # fmt: skip
    cases.append(("rank typo", ["rank", str(folder / "faces"), "--by", "smilng", "--out",
                  "r.png"], "refused"))  # fmt: skip
    cases.append(("rank out type", ["rank", str(folder / "faces"), "--by", "smiling", "--out",
                  "r.xyz"], "refused"))  # fmt: skip
    cases.append(("rank skips bad files", ["rank", str(folder / "faces"), "--by", "smiling",
                  "--out", "r.png", "--quiet"], "handled"))  # fmt: skip
    cases.append(("continuum top 0", ["continuum", str(folder / "faces"), "--by", "young",
                  "--sample", "0", "--out", "c.png"], "refused"))  # fmt: skip
    for extra in (["--positions", "4"], ["--scales", "0.5"], ["--angles", "90"],
                  ["--scales", "nan"]):  # fmt: skip
        cases.append((f"crop-search {' '.join(extra)}", ["crop-search", str(img), "--by",
                      "smiling", "--out", "c.png", *extra], "refused"))  # fmt: skip
    cases.append(("crop-search corrupt", ["crop-search", str(folder / "corrupt.jpg"), "--by",
                  "smiling", "--out", "c.png"], "refused"))  # fmt: skip
    cases.append(("tsne neither", ["tsne", "--color-by", "male", "--out", "m.png"], "refused"))
    cases.append(("tsne two attributes", ["tsne", "--synthetic", "10", "--color-by",
                  "male, young", "--out", "m.png"], "refused"))  # fmt: skip
    cases.append(("tsne too few", ["tsne", "--synthetic", "2", "--color-by", "male", "--out",
                  "m.png"], "refused"))  # fmt: skip
    cases.append(("unknown command", ["frobnicate"], "refused"))
    return cases


def run_cli(argv: list[str], folder: Path) -> tuple[str, str]:
    work = Path(tempfile.mkdtemp(dir=folder))
    before = set(work.iterdir())
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(work)
        for i, arg in enumerate(argv):
            if arg.startswith("configs/"):
                argv[i] = str(Path(cwd) / arg)
        with (
            contextlib.redirect_stderr(err),
            contextlib.redirect_stdout(out),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            code = cli.main(argv)
    except SystemExit as done:
        code = done.code
    except Exception:  # noqa: BLE001 - the battery counts escapes
        return "traceback", traceback.format_exc(limit=1).strip().splitlines()[-1]
    finally:
        os.chdir(cwd)
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    written = set(work.rglob("*")) - before
    if (
        code == 2
        and len(lines) == 1
        and lines[0].startswith("deepface-gen: error:")
        and not written
    ):
        return "refused", lines[0][:160]
    if code in (0, 1):
        return "handled", (lines[0] if lines else out.getvalue().strip().splitlines()[0])[:160]
    return "wrong", f"exit {code}, {len(lines)} lines, wrote {len(written)}: {err.getvalue()[:160]}"


def api_cases():
    from deepface_gen.generation.generator import FaceGenerator

    gen = FaceGenerator.load()
    face = np.zeros((64, 64, 3), np.uint8)
    calls = {
        "n=0": lambda: gen.generate("smiling", n=0), "n=2.5": lambda: gen.generate("x", n=2.5),
        "n=True": lambda: gen.generate("smiling", n=True),
        "empty list": lambda: gen.generate([]),
        "empty array": lambda: gen.generate(np.zeros((0, 40))),
        "nan vector": lambda: gen.generate(np.full(40, np.nan)),
        "(41,) vector": lambda: gen.generate(np.ones(41)),
        "dict nan": lambda: gen.generate({"smiling": float("nan")}),
        "dict text": lambda: gen.generate({"smiling": "yes"}),
        "object": lambda: gen.generate(object()),
        "steps=0": lambda: gen.generate("smiling", steps=0),
        "temperature nan": lambda: gen.generate("smiling", temperature=float("nan")),
        "guidance -1": lambda: gen.generate("smiling", guidance=-1),
        "method": lambda: gen.generate("smiling", method="magic"),
        "edit strengths ()": lambda: gen.edit(face[None], "+smiling", strengths=()),
        "edit strength nan": lambda: gen.edit(face[None], "+smiling", strengths=(np.nan,)),
        "edit no images": lambda: gen.edit(np.zeros((0, 64, 64, 3)), "+smiling"),
        "edit 5x5": lambda: gen.edit(np.zeros((1, 5, 5, 3)), "+smiling"),
        "invert 5x5": lambda: gen.invert(np.zeros((5, 5, 3), np.uint8)),
        "invert gray 2-D": lambda: gen.invert(np.zeros((64, 64), np.uint8)),
        "invert nan": lambda: gen.invert(np.full((64, 64, 3), np.nan)),
        "visualize n=0": lambda: gen.visualize(attribute="smiling", n=0),
        "visualize neither": lambda: gen.visualize(),
    }  # fmt: skip
    results = {}
    for name, call in calls.items():
        try:
            call()
            results[name] = ("wrong", "accepted")
        except DeepFaceGenError as err:
            results[name] = ("refused", str(err)[:160])
        except Exception:  # noqa: BLE001
            results[name] = ("traceback", traceback.format_exc(limit=1).strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="experiments/results")
    args = parser.parse_args()
    os.environ["DEEPFACE_GEN_COMPILATION_CACHE"] = "0"
    report = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        os.environ["DEEPFACE_GEN_HOME"] = str(folder / "home")
        for case, argv, expected in cli_cases(folder):
            outcome, detail = run_cli(list(argv), folder)
            report[f"cli: {case}"] = {"outcome": outcome, "expected": expected, "detail": detail}
    for case, (outcome, detail) in api_cases().items():
        report[f"api: {case}"] = {"outcome": outcome, "expected": "refused", "detail": detail}
    counts: dict[str, int] = {}
    for r in report.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    unexpected = {k: v for k, v in report.items() if v["outcome"] != v["expected"]}
    summary = {"cases": len(report), "counts": counts, "unexpected": len(unexpected)}
    print(json.dumps(summary, indent=2))
    for k, v in unexpected.items():
        print(f"UNEXPECTED {k}: {v['outcome']} ({v['detail']})")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "bad_input_battery.json").write_text(
        json.dumps({**summary, "results": report}, indent=2)
    )


if __name__ == "__main__":
    main()
