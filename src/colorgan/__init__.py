"""colorgan: colorize grayscale photos with a pix2pix-style GAN, as a versioned MLOps pipeline."""

__version__ = "0.1.0"
