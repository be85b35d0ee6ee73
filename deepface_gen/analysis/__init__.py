"""Measures of what the models and generators do: attribute accuracy, realism."""
