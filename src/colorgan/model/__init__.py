"""The networks and the GAN's algorithm: U-Net generators (own or pretrained encoder),
PatchGAN and PixelGAN discriminators, losses, colour classes and the adversarial train step."""
