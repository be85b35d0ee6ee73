"""Portraits with attribute labels: the synthetic renderer, CelebA readers, and the
streaming input pipeline the trainers and the statistics pass share."""
