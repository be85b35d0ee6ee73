"""The starter's learned inverter: conv3_1 activations of the starter classifier -> 64x64.

    deepface-gen train-inverter --config configs/inverter_starter.py \
        --workdir runs/inverter_starter --attach deepface_gen/assets/starter

Trained on synthetic portraits streamed from the renderer (endless and exact) with
the DeePSiM losses; ``--attach`` copies it into the starter bundle, which is how the
package ships it (``generate --render net`` and ``--render refine``).
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "synthetic", "size": 64},
        "model": {
            "classifier": "starter",  # a shipped model's name or a bundle folder
            "layer": "conv3_1",  # the cGMM's layer: what G renders
            "widths": [64, 32, 16],  # at 16x16, then after each 2x upsampling
            "discriminator": [32, 64, 128],
            "noise": False,  # noise inputs at each of G's scales (StyleGAN's)
            "sensor_noise": 0.0,  # camera noise after G draws (most std, 0..1 units)
        },
        "train": {
            "batch_size": 32,
            "steps": 3000,
            "learning_rate": 1e-3,
            "warmup_steps": 200,
            "discriminator_learning_rate": 2e-4,
            # DeePSiM's three terms: the classifier's features must match (relative
            # error summed over layers), the patch discriminator must be fooled, and
            # a little L1 on pixels anchors colours.
            "feature_layers": ["conv1_1", "conv2_1", "conv3_1", "conv4_1"],
            "feature_weight": 1.0,
            "adversarial_weight": 0.1,
            "adversarial_start": 300,  # let G learn the layout before D judges it
            "pixel_weight": 1.0,
            "spectral_weight": 0.0,  # the batch's log power spectrum against the portraits'
            # This share of each batch is projected onto the cGMM's targets, the codes
            # generation hands G (0 trains on real activations only).
            "projected_fraction": 0.5,
            # This share is instead drawn from the cGMM given the portrait's labels, as
            # generate draws it: no image lies behind it, so it learns from the critic and
            # from carrying the code at its own layer (0: none).
            "sampled_fraction": 0.0,
            # Projected rows learn as drawn ones do (from their code and the critic) instead
            # of redrawing their portrait, whose detail outside the cGMM's family G cannot
            # know; and the agreement with a code counts a difference outside the family
            # this many times one inside (1: alike; below, G may invent what it lacks).
            # Measured against this recipe (docs/renderer.md): G invented blotches, so off.
            "projected_from_code": False,
            "out_of_family_weight": 1.0,
            "clean_targets": False,  # learn portraits without sensor noise (synthetic only)
            "moment_batches": 16,
            # The critic and the averaging (experiments/bench_inverter.py measures each
            # against the plain recipe at equal steps; docs say which won and why):
            "gan_loss": "logistic",  # or "hinge"
            "r1_weight": 0.0,  # R1 gradient penalty on real images (0: off)
            "r1_every": 16,  # lazy R1: one step in this many, weighted up to match
            "diffaugment": False,  # DiffAugment on the critic's inputs
            "critic_features": [],  # classifier layers the critic also reads (Projected GAN)
            "ema_decay": 0.0,  # moving average of G's weights, shipped when on (0: off)
            # Continue from a trained inverter (its bundle folder, or the classifier's
            # name for the one attached to it): a longer run need not start over.
            "init_from": "",
            "log_every": 25,
            "checkpoint_every": 250,
            "keep_every": 0,  # also keep every checkpoint at a multiple of this (curves)
            # Every this many steps (0: never), how well the G that would ship redraws
            # eval_batches held-out batches: the learning curve in metrics.jsonl.
            "eval_every": 0,
            "eval_batches": 4,
        },
    }
