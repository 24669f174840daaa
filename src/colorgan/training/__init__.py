"""Fitting the GAN: the training loop, checkpoints a killed run resumes from, the epoch and
chroma gain kept on validation, numerics (dtype, determinism) and multi-worker runs."""
