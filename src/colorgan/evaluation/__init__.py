"""Judging a trained model on the test split: colour metrics, the discriminator's confusion
matrix, precision and recall, set comparisons (two-sample test, Frechet distance), the report."""
