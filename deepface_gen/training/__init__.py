"""Trainers: the loop every trainer shares (sharded batches, atomic checkpoints,
resume), the attribute classifier's and the conditional VAE's."""
