"""The starter's conditional VAE, trained on synthetic portraits at 64x64.

The ELBO plus the feature (DFC-VAE), attribute and adversarial (VAE-GAN) terms, read
through the frozen starter classifier (``training/vae.py`` says what each does).

    deepface-gen train-vae --config configs/vae_starter.py --workdir runs/vae_starter \
        --attach deepface_gen/assets/starter

``--attach`` copies the trained VAE into the starter bundle, which is how the
package ships it (``generate --backend vae`` and ``--init vae``).
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {"source": "synthetic", "size": 64},
        "model": {"widths": [32, 64, 128, 128], "latent": 64, "discriminator": [32, 64, 128]},
        "train": {
            "batch_size": 32,
            "steps": 3000,
            "learning_rate": 1e-3,
            "warmup_steps": 100,
            # Gaussian likelihood with this pixel sigma (0..1 units): lower is sharper
            # reconstructions but a less regular latent (worse samples). The feature
            # loss carries detail, so pixels are trusted less than a plain VAE would.
            "pixel_sigma": 0.2,
            "beta": 1.0,
            "kl_warmup_steps": 500,
            # Terms in nats beside the ELBO's (the reconstruction term is ~10^3 nats).
            "classifier": "starter",
            "feature_layers": ["conv1_1", "conv2_1", "conv3_1", "conv4_1"],
            "feature_weight": 1000.0,
            "attribute_weight": 500.0,
            "adversarial_weight": 300.0,
            "adversarial_start": 300,
            # Faces for the attribute and adversarial terms decode other faces' posterior
            # means, the aggregate posterior generation samples (or "gaussian": N(0, I)).
            "prior_latents": "shuffled_posterior",
            "discriminator_learning_rate": 2e-4,
            "moment_batches": 64,
            # A Gaussian mixture over the encoder's means of the moment batches' faces:
            # generation samples latents from it instead of N(0, T^2 I) (0: none).
            "latent_components": 10,
            "log_every": 25,
            "checkpoint_every": 250,
        },
    }
