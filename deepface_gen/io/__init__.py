"""Reading and writing: robust image I/O and the project's model bundles."""
