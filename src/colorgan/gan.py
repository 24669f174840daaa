"""The conditional GAN as a keras.Model: ``fit()`` brings progress bars, callbacks and epochs."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from colorgan.losses import discriminator_loss, generator_adversarial_loss, real_probability

LOSS_NAMES = ("g_adv", "g_l1", "g_total", "d_real", "d_fake", "d_accuracy")


class ColorGAN(keras.Model):
    """pix2pix: G learns to fool D on (L, ab) pairs while staying close to the true ab (L1).

    Stabilizers: ``pretraining`` trains G on L1 alone and leaves D untouched (the NoGAN
    idea: D then starts against a G that already predicts plausible colours);
    ``label_smoothing`` makes D aim at 1 - s for real pairs (one-sided, so G's target is
    unchanged); ``noise_std`` adds Gaussian instance noise to the ab that D sees, which
    blurs the two distributions together early on (a callback decays it to 0).
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        adversarial_loss: str = "bce",
        l1_weight: float = 100.0,
        label_smoothing: float = 0.0,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_loss = adversarial_loss
        self.l1_weight = l1_weight
        self.real_label = 1.0 - label_smoothing
        self.pretraining = False  # read when fit() traces train_step
        self.noise_std = keras.Variable(0.0, trainable=False, name="instance_noise_std")
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.val_l1 = keras.metrics.Mean(name="g_l1")

    def compile(self, g_optimizer: keras.Optimizer, d_optimizer: keras.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def build_optimizers(self) -> None:
        """Create the optimizer slots now, so a checkpoint can be restored into them."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Skip Keras' build-from-a-batch before fit(): both networks and their optimizers
        are built already (build_optimizers), and under MultiWorkerMirroredStrategy that
        build fails reducing a distributed batch (keras-team/keras#20585, Keras 3.15)."""

    def set_phase(self, pretraining: bool) -> None:
        """Switch between L1 pre-training and adversarial training; fit() retraces the step."""
        self.pretraining = pretraining
        self.train_function = None

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.val_l1]  # reset by fit() and evaluate()

    def call(self, lightness, training: bool = False):
        return self.generator(lightness, training=training)

    def _noisy(self, ab):
        return ab + self.noise_std * keras.random.normal(ops.shape(ab), seed=self.noise_seed)

    def train_step(self, data):
        """One update of G and one of D; returns this step's losses (not epoch means)."""
        lightness, real_ab = data[0], data[1]  # (x, y), or (x, y, None) from train_on_batch
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            # Generate, then let D judge the true and the generated colours for the same L.
            fake_ab = self.generator(lightness, training=True)
            real_logits = self.discriminator([lightness, self._noisy(real_ab)], training=True)
            fake_logits = self.discriminator([lightness, self._noisy(fake_ab)], training=True)
            # G: fool D, and stay near the ground truth (L1 keeps colours plausible and stable).
            g_adv = generator_adversarial_loss(fake_logits, self.adversarial_loss)
            g_l1 = ops.mean(ops.abs(real_ab - fake_ab))
            g_total = self.l1_weight * g_l1 + (0.0 if self.pretraining else g_adv)
            # D: call real pairs real and generated pairs fake.
            d_real, d_fake = discriminator_loss(
                real_logits, fake_logits, self.adversarial_loss, self.real_label
            )
            d_total = d_real + d_fake
            g_scaled = self._scaled_for_gradients(g_total, self.g_optimizer)
            d_scaled = self._scaled_for_gradients(d_total, self.d_optimizer)
        self._descend(self.g_optimizer, g_tape, g_scaled, self.generator)
        if not self.pretraining:
            self._descend(self.d_optimizer, d_tape, d_scaled, self.discriminator)
        # Patch accuracy: how often D is right about real and generated patches.
        p_real = real_probability(real_logits, self.adversarial_loss)
        p_fake = real_probability(fake_logits, self.adversarial_loss)
        accuracy = 0.5 * (
            ops.mean(ops.cast(p_real > 0.5, "float32"))
            + ops.mean(ops.cast(p_fake <= 0.5, "float32"))
        )
        values = (g_adv, g_l1, g_total, d_real, d_fake, accuracy)
        return _reducible(dict(zip(LOSS_NAMES, values, strict=True)))

    @staticmethod
    def _scaled_for_gradients(loss, optimizer: keras.Optimizer):
        """The loss to differentiate: right under a tf.distribute strategy and in float16.

        Each replica's loss is a mean over its share of the global batch and the optimizer
        sums the replicas' gradients, hence the division. ``scale_loss`` multiplies by the
        loss scale of a LossScaleOptimizer (in float16 small gradients would underflow to 0),
        which divides it out again before the update; other optimizers return the loss as is.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / replicas)

    @staticmethod
    def _descend(optimizer: keras.Optimizer, tape, scaled_loss, model: keras.Model) -> None:
        variables = model.trainable_variables
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    def test_step(self, data):
        lightness, real_ab = data[0], data[1]
        fake_ab = self.generator(lightness, training=False)
        self.val_l1.update_state(ops.mean(ops.abs(real_ab - fake_ab)))
        return _reducible({"g_l1": self.val_l1.result()})


def _reducible(outputs: dict) -> dict:
    """fit() reduces a multi-worker step's outputs along axis 0, which scalars lack (Keras
    3.15, keras-team/keras#20585): there each becomes a 1-vector, read back with np.mean."""
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {name: ops.reshape(value, (1,)) for name, value in outputs.items()}
    return outputs
