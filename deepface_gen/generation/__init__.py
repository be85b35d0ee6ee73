"""Faces from descriptions and edits of portraits: the FaceGenerator object, and
the inversion tools (invert, caricature, unit visualization) for any network."""
