"""Activation statistics and the conditional Gaussian model (cGMM) fitted to them:
which activations a face with given attributes would have."""
