"""The conditional GAN as a keras.Model: ``fit()`` brings progress bars, callbacks and epochs."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from colorgan.losses import discriminator_loss, generator_adversarial_loss, real_probability


class ColorGAN(keras.Model):
    """pix2pix: G learns to fool D on (L, ab) pairs while staying close to the true ab (L1)."""

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        adversarial_loss: str = "bce",
        l1_weight: float = 100.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_loss = adversarial_loss
        self.l1_weight = l1_weight
        names = ["g_adv", "g_l1", "g_total", "d_real", "d_fake", "d_accuracy"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def compile(self, g_optimizer: keras.Optimizer, d_optimizer: keras.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def build_optimizers(self) -> None:
        """Create the optimizer slots now, so a checkpoint can be restored into them."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())  # reset by fit() at each epoch

    def call(self, lightness, training: bool = False):
        return self.generator(lightness, training=training)

    def train_step(self, data):
        lightness, real_ab = data[0], data[1]  # (x, y), or (x, y, None) from train_on_batch
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            # Generate, then let D judge the true and the generated colours for the same L.
            fake_ab = self.generator(lightness, training=True)
            real_logits = self.discriminator([lightness, real_ab], training=True)
            fake_logits = self.discriminator([lightness, fake_ab], training=True)
            # G: fool D, and stay near the ground truth (L1 keeps colours plausible and stable).
            g_adv = generator_adversarial_loss(fake_logits, self.adversarial_loss)
            g_l1 = ops.mean(ops.abs(real_ab - fake_ab))
            g_total = g_adv + self.l1_weight * g_l1
            # D: call real pairs real and generated pairs fake.
            d_real, d_fake = discriminator_loss(real_logits, fake_logits, self.adversarial_loss)
            d_total = d_real + d_fake
        # One update each, from the same forward pass.
        g_grads = g_tape.gradient(g_total, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_total, self.discriminator.trainable_variables)
        self.g_optimizer.apply_gradients(
            zip(g_grads, self.generator.trainable_variables, strict=True)
        )
        self.d_optimizer.apply_gradients(
            zip(d_grads, self.discriminator.trainable_variables, strict=True)
        )
        # Patch accuracy: how often D is right about real and generated patches.
        p_real = real_probability(real_logits, self.adversarial_loss)
        p_fake = real_probability(fake_logits, self.adversarial_loss)
        accuracy = 0.5 * (
            ops.mean(ops.cast(p_real > 0.5, "float32"))
            + ops.mean(ops.cast(p_fake <= 0.5, "float32"))
        )
        values = {
            "g_adv": g_adv,
            "g_l1": g_l1,
            "g_total": g_total,
            "d_real": d_real,
            "d_fake": d_fake,
            "d_accuracy": accuracy,
        }
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, data):
        lightness, real_ab = data[0], data[1]  # (x, y), or (x, y, None) from train_on_batch
        fake_ab = self.generator(lightness, training=False)
        self.trackers["g_l1"].update_state(ops.mean(ops.abs(real_ab - fake_ab)))
        return {"g_l1": self.trackers["g_l1"].result()}
