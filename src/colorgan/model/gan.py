"""The conditional GAN as a keras.Model: ``fit()`` brings progress bars, callbacks and epochs."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from colorgan.config import Params
from colorgan.model.augment import diff_augment
from colorgan.model.colour_classes import bin_centres, rebalanced_cross_entropy
from colorgan.model.losses import discriminator_loss, generator_adversarial_loss, real_probability
from colorgan.model.networks import (
    build_discriminator,
    build_generator,
    build_pixel_discriminator,
)

LOSS_NAMES = ("g_adv", "g_l1", "g_class", "g_total", "d_real", "d_fake", "d_accuracy")
CLASS_LOGITS = "ab_logits"  # the generator's colour-class logits, when it predicts classes
ENCODER = "encoder"  # the generator's pretrained backbone, when it has one (encoders.py)
DISCRIMINATORS = "discriminators"  # models/ folder of D's heads, each saved under its name


class ColorGAN(keras.Model):
    """pix2pix: G learns to fool D on (L, ab) pairs while staying close to the true ab (L1).

    Stabilizers: ``pretraining`` trains G on L1 alone and leaves D untouched (the NoGAN
    idea: D then starts against a G that already predicts plausible colours);
    ``label_smoothing`` makes D aim at 1 - s for real pairs (one-sided, so G's target is
    unchanged); ``noise_std`` adds Gaussian instance noise to the ab that D sees, which
    blurs the two distributions together early on (a callback decays it to 0).

    Colour levers: ``pixel_discriminator`` (a 1x1 PixelGAN judged beside the PatchGAN: its
    losses are added to D's and G's), ``color_enhance_factor`` (D's real ab are scaled up,
    so G is pushed towards slightly more vivid colour than the truth while L1 still pulls
    to the truth), ``diff_augment`` (translation / cutout of both of D's inputs), and a
    generator that predicts colour classes (its ``ab_logits`` layer), trained with the
    rebalanced class loss times ``class_weight`` beside L1 and the adversarial loss.

    A pretrained encoder (the generator's ``encoder`` layer) has an optimizer of its own,
    usually at a lower learning rate, and is left alone while ``encoder_frozen`` is set: the
    decoder first learns to read the ImageNet features before they may move.

    ``generator_ema``, a second generator of the same architecture, holds G's weights
    averaged over the steps (StyleGAN's G_ema; Yazici et al. 2019): the adversarial game
    makes G's colours swing from step to step, and the average sits in the middle of the
    swing. It is the ``colorizer``: what validation scores and what is shipped.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        adversarial_loss: str = "bce",
        l1_weight: float = 100.0,
        label_smoothing: float = 0.0,
        seed: int = 0,
        pixel_discriminator: keras.Model | None = None,
        color_enhance_factor: float = 1.0,
        diff_augment: tuple[str, ...] = (),
        class_weight: float = 1.0,
        generator_ema: keras.Model | None = None,
        ema_decay: float = 0.99,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.generator_ema = generator_ema
        self.ema_decay = ema_decay
        self._averaging = None  # the compiled update_average, made on first use
        if generator_ema is not None:
            generator_ema.set_weights(generator.get_weights())
        self.discriminator = discriminator
        self.pixel_discriminator = pixel_discriminator
        self.color_enhance_factor = color_enhance_factor
        self.diff_augment = tuple(diff_augment)
        self.augment_seed = keras.random.SeedGenerator(seed + 1)
        self.class_weight = class_weight
        self.with_logits = None
        if any(layer.name == CLASS_LOGITS for layer in generator.layers):
            # One forward pass gives both the decoded ab and the logits the class loss needs.
            self.with_logits = keras.Model(
                generator.input, [generator.output, generator.get_layer(CLASS_LOGITS).output]
            )
            self.centres = bin_centres()
            # Uniform until set_class_prior sees the training colours.
            self.rebalance = keras.Variable(
                ops.ones((len(self.centres),)), trainable=False, name="class_rebalancing"
            )
        self.adversarial_loss = adversarial_loss
        self.l1_weight = l1_weight
        self.real_label = 1.0 - label_smoothing
        self.pretraining = False  # read when fit() traces train_step
        self.encoder_frozen = False  # likewise
        self.encoder = next((la for la in generator.layers if la.name == ENCODER), None)
        self.noise_std = keras.Variable(0.0, trainable=False, name="instance_noise_std")
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.val_l1 = keras.metrics.Mean(name="g_l1")

    def compile(
        self,
        g_optimizer: keras.Optimizer,
        d_optimizer: keras.Optimizer,
        e_optimizer: keras.Optimizer | None = None,
        **kwargs,
    ) -> None:
        """``e_optimizer`` trains the pretrained encoder; without one it trains with G's."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.e_optimizer = e_optimizer if self._encoder_variables() else None

    @property
    def optimizers(self) -> dict[str, keras.Optimizer]:
        """Every optimizer by name: what a checkpoint saves."""
        named = {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
        if self.e_optimizer is not None:
            named["e_optimizer"] = self.e_optimizer
        return named

    @property
    def colorizer(self) -> keras.Model:
        """The generator that colours: the weight average when there is one, else G."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def update_average(self) -> None:
        """Move G_ema one step towards G: ema = d * ema + (1 - d) * G, with d warming up as
        (1 + n) / (10 + n) after n steps (TensorFlow's ExponentialMovingAverage) until it
        reaches ``ema_decay``, so that a short run's average is not its initial weights.
        Called between steps (AverageGenerator), where a mirrored variable may be assigned."""
        if self.generator_ema is None:
            return
        if self._averaging is None:
            pairs = [
                (average, weight)
                for average, weight in zip(
                    self.generator_ema.weights, self.generator.weights, strict=True
                )
                if "float" in str(weight.dtype)
            ]

            def average_step():
                steps = ops.cast(self.g_optimizer.iterations, "float32")
                decay = ops.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
                for average, weight in pairs:
                    average.assign(decay * average + (1.0 - decay) * weight)

            self._averaging = tf.function(average_step)
        self._averaging()

    def _encoder_variables(self) -> list:
        """The pretrained encoder's trainable weights (its batch norm stays frozen)."""
        return list(self.encoder.trainable_variables) if self.encoder is not None else []

    def _g_variables(self) -> list:
        """What G's own optimizer trains: all of G, less the encoder when it has its own."""
        if self.e_optimizer is None:
            return list(self.generator.trainable_variables)
        encoder = {id(v) for v in self._encoder_variables()}
        return [v for v in self.generator.trainable_variables if id(v) not in encoder]

    def set_class_prior(self, weights) -> None:
        """The rebalancing weight of each colour class (colour_classes.rebalancing_weights)."""
        self.rebalance.assign(weights)

    @property
    def discriminators(self) -> list[keras.Model]:
        """The PatchGAN, and the PixelGAN when there is one: one optimizer trains both."""
        return [d for d in (self.discriminator, self.pixel_discriminator) if d is not None]

    def build_optimizers(self) -> None:
        """Create the optimizer slots now, so a checkpoint can be restored into them."""
        self.g_optimizer.build(self._g_variables())
        self.d_optimizer.build(self._d_variables())
        if self.e_optimizer is not None:
            self.e_optimizer.build(self._encoder_variables())

    def _d_variables(self) -> list:
        return [v for d in self.discriminators for v in d.trainable_variables]

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Skip Keras' build-from-a-batch before fit(): both networks and their optimizers
        are built already (build_optimizers), and under MultiWorkerMirroredStrategy that
        build fails reducing a distributed batch (keras-team/keras#20585, Keras 3.15)."""

    def set_phase(self, pretraining: bool, encoder_frozen: bool = False) -> None:
        """Switch between L1 pre-training and adversarial training, with the encoder frozen
        or learning; fit() retraces the step."""
        self.pretraining = pretraining
        self.encoder_frozen = encoder_frozen
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
        if self.pretraining:
            return self._pretrain_step(lightness, real_ab)
        # D's view of the truth: optionally more vivid (L1 below still uses the real ab).
        shown_ab = ops.clip(real_ab * self.color_enhance_factor, -1.0, 1.0)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            # Generate, then let each D judge the true and the generated colours for the same L.
            fake_ab, g_l1, g_class, g_fit = self._generate(lightness, real_ab)
            real_logits, fake_logits = self._judge(lightness, shown_ab, fake_ab)
            # G: fool D, and stay near the ground truth (L1 keeps colours plausible and stable).
            g_adv = sum(generator_adversarial_loss(f, self.adversarial_loss) for f in fake_logits)
            g_total = g_fit + g_adv
            # D: call real pairs real and generated pairs fake.
            d_losses = [
                discriminator_loss(r, f, self.adversarial_loss, self.real_label)
                for r, f in zip(real_logits, fake_logits, strict=True)
            ]
            d_real, d_fake = sum(r for r, _ in d_losses), sum(f for _, f in d_losses)
            d_total = d_real + d_fake
            g_scaled = self._scaled_for_gradients(g_total, self.g_optimizer)
            d_scaled = self._scaled_for_gradients(d_total, self.d_optimizer)
        self._descend_generator(g_tape, g_scaled)
        self._descend(self.d_optimizer, d_tape, d_scaled, self._d_variables())
        # Patch accuracy of the PatchGAN: how often it is right about real and generated patches.
        p_real = real_probability(real_logits[0], self.adversarial_loss)
        p_fake = real_probability(fake_logits[0], self.adversarial_loss)
        accuracy = 0.5 * (
            ops.mean(ops.cast(p_real > 0.5, "float32"))
            + ops.mean(ops.cast(p_fake <= 0.5, "float32"))
        )
        values = (g_adv, g_l1, g_class, g_total, d_real, d_fake, accuracy)
        return _reducible(dict(zip(LOSS_NAMES, values, strict=True)))

    def _pretrain_step(self, lightness, real_ab):
        """G on L1 (and the class loss) alone. D is not even run: it learns nothing here, and
        its forward passes would cost a tenth of the step; its losses read 0 meanwhile."""
        with tf.GradientTape() as tape:
            _, g_l1, g_class, g_total = self._generate(lightness, real_ab)
            scaled = self._scaled_for_gradients(g_total, self.g_optimizer)
        self._descend_generator(tape, scaled)
        zero = ops.zeros(())
        values = (zero, g_l1, g_class, g_total, zero, zero, zero)
        return _reducible(dict(zip(LOSS_NAMES, values, strict=True)))

    def _generate(self, lightness, real_ab):
        """G's ab and its losses against the truth: L1, the rebalanced colour-class loss (0
        for a generator without classes), and their weighted sum, G's loss before D's say."""
        if self.with_logits is None:
            fake_ab, g_class = self.generator(lightness, training=True), ops.zeros(())
        else:
            fake_ab, logits = self.with_logits(lightness, training=True)
            g_class = rebalanced_cross_entropy(logits, real_ab, self.centres, self.rebalance)
        g_l1 = ops.mean(ops.abs(real_ab - fake_ab))
        return fake_ab, g_l1, g_class, self.l1_weight * g_l1 + self.class_weight * g_class

    def _judge(self, lightness, real_ab, fake_ab) -> tuple[list, list]:
        """Each discriminator's logits for the real and the generated pairs.

        Real and generated pairs go through D in separate batches (BatchNorm statistics per
        kind, as in pix2pix); with DiffAugment both get the same kind of random geometry.
        """
        if self.diff_augment:
            seeds = keras.random.randint((2, 2), 0, 2**30, seed=self.augment_seed, dtype="int32")
            real_pair = diff_augment(lightness, real_ab, self.diff_augment, seeds[0])
            fake_pair = diff_augment(lightness, fake_ab, self.diff_augment, seeds[1])
        else:
            real_pair, fake_pair = (lightness, real_ab), (lightness, fake_ab)
        (real_light, real_colour), (fake_light, fake_colour) = real_pair, fake_pair
        real_logits, fake_logits = [], []
        for discriminator in self.discriminators:
            real_logits.append(discriminator([real_light, self._noisy(real_colour)], training=True))
            fake_logits.append(discriminator([fake_light, self._noisy(fake_colour)], training=True))
        return real_logits, fake_logits

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

    def _descend_generator(self, tape, scaled_loss) -> None:
        """G's update, and the encoder's with its own optimizer unless frozen (then no
        gradient flows into it at all: the cheap phase)."""
        g_variables = self._g_variables()
        learning = self.e_optimizer is not None and not self.encoder_frozen
        e_variables = self._encoder_variables() if learning else []
        grads = tape.gradient(scaled_loss, g_variables + e_variables)
        self.g_optimizer.apply_gradients(zip(grads[: len(g_variables)], g_variables, strict=True))
        if e_variables:
            self.e_optimizer.apply_gradients(
                zip(grads[len(g_variables) :], e_variables, strict=True)
            )

    @staticmethod
    def _descend(optimizer: keras.Optimizer, tape, scaled_loss, variables: list) -> None:
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    def test_step(self, data):
        lightness, real_ab = data[0], data[1]
        fake_ab = self.colorizer(lightness, training=False)
        self.val_l1.update_state(ops.mean(ops.abs(real_ab - fake_ab)))
        return _reducible({"g_l1": self.val_l1.result()})


def _reducible(outputs: dict) -> dict:
    """fit() reduces a multi-worker step's outputs along axis 0, which scalars lack (Keras
    3.15, keras-team/keras#20585): there each becomes a 1-vector, read back with np.mean."""
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {name: ops.reshape(value, (1,)) for name, value in outputs.items()}
    return outputs


def build_gan(params: Params, loss_scaling: bool = False) -> ColorGAN:
    """Both networks and their optimizers; ``loss_scaling`` wraps the optimizers for float16
    (ColorGAN._scaled_for_gradients scales the loss they unscale)."""
    size = params.preprocess.image_size
    d_params = params.model.discriminator
    gan = ColorGAN(
        build_generator(size, params.model.generator),
        build_discriminator(size, d_params),
        adversarial_loss=params.train.adversarial_loss,
        l1_weight=params.train.l1_weight,
        label_smoothing=params.train.label_smoothing,
        seed=params.seed,
        pixel_discriminator=build_pixel_discriminator(size, d_params)
        if d_params.pixel_gan
        else None,
        color_enhance_factor=params.train.color_enhance_factor,
        diff_augment=tuple(params.train.diff_augment),
        class_weight=params.train.class_weight,
        generator_ema=build_generator(size, params.model.generator)
        if params.train.ema_decay
        else None,
        ema_decay=params.train.ema_decay,
    )
    train = params.train
    clip = {"clipnorm": train.grad_clip_norm} if train.grad_clip_norm else {}

    def optimizer(learning_rate: float) -> keras.Optimizer:
        adam = keras.optimizers.Adam(learning_rate, beta_1=train.beta_1, **clip)
        return keras.optimizers.LossScaleOptimizer(adam) if loss_scaling else adam

    gan.compile(
        g_optimizer=optimizer(train.g_learning_rate),
        d_optimizer=optimizer(train.d_learning_rate),
        e_optimizer=optimizer(train.encoder_learning_rate),
    )
    return gan


class AverageGenerator(keras.callbacks.Callback):
    """Keeps the GAN's G_ema one step behind G after every training step."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.model.update_average()
