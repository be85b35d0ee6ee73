"""The independent judge: a second classifier that never takes part in generation.

Attribute faithfulness of generated faces is measured with this model, so the
generator cannot score well by fooling the network it optimizes against. It
differs from the starter (configs/starter.py) in architecture (3 wider blocks
instead of 4, a different head), initialization seed and data stream.

    deepface-gen train --config configs/independent.py --workdir runs/independent
"""

import runpy
from pathlib import Path


def get_config() -> dict:
    config = runpy.run_path(str(Path(__file__).with_name("starter.py")))["get_config"]()
    config["seed"] = 1
    config["model"].update(width=24, depth=3, feature_layer="pool3", hidden=128, dropout=0.1)
    config["train"].update(steps=1200, warmup_steps=100)
    return config
