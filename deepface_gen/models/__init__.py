"""Networks: the VGG family, its preprocessing, published weights, the trained
attribute classifier and the conditional VAE."""
