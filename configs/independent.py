"""The independent judge: a second classifier that never takes part in generation.

Attribute faithfulness of generated faces is measured with this model, so the
generator cannot score well by fooling the network it optimizes against. It
differs from the starter in architecture (3 wider blocks instead of 4, a
different head), initialization seed and data stream.

    deepface-gen train --config configs/independent.py --workdir runs/independent
"""


def get_config() -> dict:
    return {
        "seed": 1,
        "data": {"source": "synthetic", "size": 64},
        "model": {
            "backbone": "compact",
            "width": 24,
            "depth": 3,
            "feature_layer": "pool3",
            "pool": "flatten",
            "hidden": 128,
            "num_identities": 0,
            "dropout": 0.1,
            "dtype": "float32",
            "init": None,
        },
        "train": {
            "batch_size": 128,
            "steps": 1200,
            "learning_rate": 2e-3,
            "warmup_steps": 100,
            "weight_decay": 1e-4,
            "freeze": "none",
            "augment_shift": 3,
            "balance_batches": 8,
            "log_every": 25,
            "checkpoint_every": 250,
        },
    }
