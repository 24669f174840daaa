"""GAN losses as plain functions of the discriminator's patch logits.

At balance with BCE, D's loss on each of real and fake sits near log 2 = 0.69: D cannot tell.
"""

from __future__ import annotations

from keras import ops

AdversarialLoss = str  # "bce" | "lsgan" | "hinge"


def _bce(logits, target: float):
    return ops.mean(
        ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True)
    )


def discriminator_loss(real_logits, fake_logits, kind: AdversarialLoss, real_label: float = 1.0):
    """(loss on real pairs, loss on generated pairs); ``real_label`` < 1 is one-sided smoothing."""
    if kind == "bce":
        return _bce(real_logits, real_label), _bce(fake_logits, 0.0)
    if kind == "lsgan":
        return (ops.mean(ops.square(real_logits - real_label)), ops.mean(ops.square(fake_logits)))
    if kind == "hinge":
        return ops.mean(ops.relu(1.0 - real_logits)), ops.mean(ops.relu(1.0 + fake_logits))
    raise ValueError(f"unknown adversarial loss {kind!r}")


def generator_adversarial_loss(fake_logits, kind: AdversarialLoss):
    """How far G is from making D call its output real."""
    if kind == "bce":
        return _bce(fake_logits, 1.0)
    if kind == "lsgan":
        return ops.mean(ops.square(fake_logits - 1.0))
    if kind == "hinge":
        return -ops.mean(fake_logits)
    raise ValueError(f"unknown adversarial loss {kind!r}")


def real_probability(logits, kind: AdversarialLoss):
    """D's output as P(real) in [0, 1], comparable across losses (LSGAN regresses to 0/1)."""
    if kind == "lsgan":
        return ops.clip(logits, 0.0, 1.0)
    return ops.sigmoid(logits)
