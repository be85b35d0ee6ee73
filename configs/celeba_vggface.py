"""CelebA attributes on VGG-Face features (fc7), fine-tuned from conv5 as DeepFace did.

    deepface-gen weights import rcmalli_vggface_tf_vgg16.h5
    deepface-gen train --config configs/celeba_vggface.py --workdir runs/vggface \
        data.source=celeba:/path/to/celeba      # or data.source=tfds

The VGG16 recipe (configs/celeba_vgg16.py) with VGG-Face weights and head.
"""

import runpy
from pathlib import Path


def get_config() -> dict:
    config = runpy.run_path(str(Path(__file__).with_name("celeba_vgg16.py")))["get_config"]()
    config["model"].update(backbone="vggface", init="vggface", feature_layer="fc7")
    return config
