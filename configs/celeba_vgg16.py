"""CelebA attributes on VGG16 (ImageNet) features, fine-tuned from conv5 as DeepFace did.

    deepface-gen weights import vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    deepface-gen train --config configs/celeba_vgg16.py --workdir runs/vgg16 \
        data.source=celeba:/path/to/celeba      # or data.source=tfds

Sized for a GPU; on a CPU lower data.size (e.g. 128) and train.steps.
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "tfds", "size": 224},
        "model": {
            "backbone": "vgg16",
            "feature_layer": "pool5",
            "pool": "avg",
            "hidden": 512,
            "num_identities": 0,
            "dropout": 0.3,
            "dtype": "bfloat16",
            "init": "vgg16",
        },
        "train": {
            "batch_size": 64,
            "steps": 20000,
            "learning_rate": 1e-4,
            "warmup_steps": 500,
            "weight_decay": 5e-4,
            "freeze": "conv5",
            "augment_shift": 8,
            "balance_batches": 20,
            "log_every": 50,
            "checkpoint_every": 1000,
            # Loss and accuracy on 8 validation batches, logged beside the training loss.
            "eval_every": 500,
            "eval_batches": 8,
        },
    }
