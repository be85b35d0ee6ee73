"""`deepface-gen train`, `train-vae`, `train-inverter` and `train-identity`: train from a
Python config."""

from __future__ import annotations

import argparse
import importlib
import shlex
from pathlib import Path

from deepface_gen import checks
from deepface_gen.cli import common
from deepface_gen.errors import DeepFaceGenError


def _run_trainer(args: argparse.Namespace, task, command: str, what: str) -> Path | None:
    """Load the config (with the settings ``task`` lets it leave out), train through the
    one driver; say how to resume after --max-steps, or where the result is."""
    from deepface_gen import hosts
    from deepface_gen.config import load_config
    from deepface_gen.training import loop

    hosts.initialize(args.coordinator, args.num_processes, args.process_id, args.join_timeout)
    config = load_config(args.config, args.overrides, loop.defaults_of(task))
    if args.reschedule and not args.resume:
        raise DeepFaceGenError("--reschedule continues a run: pass --resume with it")
    bundle = loop.train(
        task, config, args.workdir, resume=args.resume, quiet=args.quiet,
        max_steps=args.max_steps, reschedule=args.reschedule,
    )  # fmt: skip
    if not hosts.is_main():  # process 0 writes the model and says where it is
        return None
    if bundle is None:
        print(
            "stopped after --max-steps; continue with: "
            + shlex.join(
                [
                    "deepface-gen",
                    command,
                    "--config",
                    str(args.config),
                    "--workdir",
                    str(args.workdir),
                    "--resume",
                    *args.overrides,
                ]
            )  # fmt: skip
        )
    else:
        print(
            f"trained {what} written to {bundle} (metrics: {Path(args.workdir) / 'metrics.jsonl'})"
        )
    return bundle


def run_train(args: argparse.Namespace) -> int:
    from deepface_gen.training.classifier import TASK

    _run_trainer(args, TASK, "train", "model")
    return 0


def _check_attach(target: str | None) -> None:
    """``--attach``'s bundle must exist and be writable before any training starts."""
    if target is not None:
        from deepface_gen.io import bundles

        bundles.read_manifest(target)
        checks.output_folder(target, "--attach")


def run_train_vae(args: argparse.Namespace) -> int:
    from deepface_gen.training.vae import TASK, attach

    _check_attach(args.attach)
    bundle = _run_trainer(args, TASK, "train-vae", "VAE")
    if bundle is not None and args.attach:
        print(f"attached to {args.attach} as {attach(bundle, args.attach).name}")
    return 0


def run_train_inverter(args: argparse.Namespace) -> int:
    from deepface_gen.training.inverter import TASK, attach, export_checkpoint

    _check_attach(args.attach)
    if args.export_step is not None:  # ship a chosen checkpoint; no training
        bundle = export_checkpoint(args.workdir, args.export_step)
        print(f"exported step {args.export_step} of {args.workdir} to {bundle}")
    else:
        bundle = _run_trainer(args, TASK, "train-inverter", "inverter")
    if bundle is not None and args.attach:
        print(f"attached to {args.attach} as {attach(bundle, args.attach).name}")
    return 0


def run_train_identity(args: argparse.Namespace) -> int:
    from deepface_gen.training.identity import TASK

    _run_trainer(args, TASK, "train-identity", "identity embedding")
    return 0


class _ShowSettings(argparse.Action):
    """``--show-settings``: print every setting of the trainer (type, default, allowed
    values, meaning) and exit, as ``--help`` does, so no config or workdir is needed."""

    def __init__(self, option_strings, dest, trainer: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.trainer = trainer

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from deepface_gen.training import settings

        task = importlib.import_module(f"deepface_gen.training.{self.trainer}").TASK
        print(settings.table(task.schema))
        print("\nA config file may leave any out (its default applies); set one with key=value.")
        parser.exit()


def _trainer_parser(
    sub: argparse._SubParsersAction, name: str, text: str, example: str, trainer: str
):
    """A trainer command's parser: config, workdir, resume, a step budget, overrides."""
    p = sub.add_parser(name, help=text)
    p.add_argument(
        "--show-settings", action=_ShowSettings, trainer=trainer,
        help="list every setting (type, default, allowed values, meaning) and exit",
    )  # fmt: skip
    p.add_argument("--config", required=True, help=f"a Python config file, e.g. {example}")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics and the model go here")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument(
        "--reschedule", action="store_true",
        help="with --resume: continue to a new train.steps, the cosine learning-rate "
        "schedule recomputed for that length (anneal a run whose curve has flattened)",
    )  # fmt: skip
    p.add_argument(
        "--max-steps", type=common.whole(1, common.BIG), default=None, help="stop after N steps"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_process_options(p)
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="override config values, e.g. train.steps=100",
    )
    return p


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    p = _trainer_parser(
        sub, "train", "train an attribute classifier from a config", "configs/starter.py",
        "classifier",
    )  # fmt: skip
    p.set_defaults(func=run_train)
    p = _trainer_parser(
        sub, "train-vae", "train a conditional VAE from a config", "configs/vae_starter.py", "vae"
    )
    p.add_argument(
        "--attach", default=None, metavar="BUNDLE", help="also copy the VAE into this model bundle"
    )
    p.set_defaults(func=run_train_vae)
    p = _trainer_parser(
        sub,
        "train-inverter",
        "train a learned inverter (activations -> image) for a model bundle",
        "configs/inverter_starter.py",
        "inverter",
    )
    p.add_argument(
        "--attach",
        default=None,
        metavar="BUNDLE",
        help="also copy the inverter into this model bundle (the one it was trained for)",
    )
    p.add_argument(
        "--export-step",
        type=common.whole(1, common.BIG),
        default=None,
        metavar="N",
        help="instead of training: export the --workdir run's checkpoint of step N (kept by "
        "train.keep_every; its moving average where the run keeps one), e.g. the best "
        "point of its learning curve",
    )
    p.set_defaults(func=run_train_inverter)
    p = _trainer_parser(
        sub,
        "train-identity",
        "train an identity embedding (CosFace over a pool of people) from a config",
        "configs/identity.py",
        "identity",
    )
    p.set_defaults(func=run_train_identity)
