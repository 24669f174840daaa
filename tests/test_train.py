"""Training switches, the non-finite guard, checkpoints across strategies, determinism."""

import shutil
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops

from colorgan.config import parse_params
from colorgan.data import records
from colorgan.model.gan import LOSS_NAMES, build_gan
from colorgan.model.losses import discriminator_loss
from colorgan.tracking.runs import MlflowRun
from colorgan.training.checkpoints import CheckpointStore
from colorgan.training.distribution import describe, make_strategy
from colorgan.training.monitor import NonFiniteLoss, TrainingMonitor, instance_noise
from colorgan.training.selection import ValidationSet
from tests.conftest import TINY_PARAMS, deep_update, run
from tests.test_gan import _batch
from tests.test_selection import RecordingRun


def _no_noise(epoch):
    return 0.0


def _gan(**train):
    keras.utils.set_random_seed(0)
    return build_gan(parse_params(deep_update(TINY_PARAMS, {"train": train})))


def _weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def _changed(before, model):
    return any(
        not np.array_equal(b, a.numpy())
        for b, a in zip(before, model.trainable_weights, strict=True)
    )


def test_pretraining_updates_the_generator_only_then_both_train():
    gan = _gan()
    lightness, real_ab = _batch()
    g_before, d_before = _weights(gan.generator), _weights(gan.discriminator)
    gan.set_phase(pretraining=True)
    gan.train_on_batch(lightness, real_ab)
    assert _changed(g_before, gan.generator)
    assert not _changed(d_before, gan.discriminator)
    gan.set_phase(pretraining=False)
    gan.train_on_batch(lightness, real_ab)
    assert _changed(d_before, gan.discriminator)


def test_label_smoothing_lowers_the_target_for_real_pairs_only():
    assert _gan(label_smoothing=0.1).real_label == pytest.approx(0.9)
    confident = ops.full((1, 2, 2, 1), 8.0)
    smooth_real, smooth_fake = discriminator_loss(confident, -confident, "bce", real_label=0.9)
    plain_real, plain_fake = discriminator_loss(confident, -confident, "bce")
    assert float(smooth_real) > float(plain_real)  # overconfident D is now penalized
    assert float(smooth_fake) == pytest.approx(float(plain_fake))


def test_instance_noise_decays_to_zero_and_reaches_the_discriminator_input():
    assert [instance_noise(0.2, 5, epoch) for epoch in range(5)] == pytest.approx(
        [0.2, 0.15, 0.1, 0.05, 0.0]
    )
    gan = _gan(instance_noise=0.2)
    _, real_ab = _batch()
    assert np.array_equal(np.asarray(gan._noisy(real_ab)), real_ab)  # std starts at 0
    gan.noise_std.assign(0.2)
    noise = np.asarray(gan._noisy(real_ab)) - real_ab
    assert 0.1 < noise.std() < 0.3


def test_gradient_clipping_is_set_on_both_optimizers():
    gan = _gan(grad_clip_norm=1.5)
    assert gan.g_optimizer.clipnorm == gan.d_optimizer.clipnorm == 1.5
    assert _gan().g_optimizer.clipnorm is None


def test_a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path):
    gan = _gan()
    store = CheckpointStore(tmp_path / "checkpoints")
    saved = store.save(gan, {"epoch": 1, "step": 3})
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    monitor = TrainingMonitor(
        MlflowRun(None), store, {"epoch": 1, "step": 3}, [], 1, ValidationSet(*_batch()), _no_noise
    )
    logs = {
        "g_adv": 0.7,
        "g_l1": float("nan"),
        "g_class": 0.0,
        "g_total": float("nan"),
        "d_real": 0.7,
        "d_fake": 0.7,
        "d_accuracy": 0.5,
    }
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 4"):
        monitor.on_train_batch_end(0, logs)
    assert store.latest()[0] == saved
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before


def test_a_checkpoint_made_under_a_mirrored_strategy_resumes_under_none(tmp_path):
    """Checkpoints hold plain weights and optimizer arrays, whatever the strategy: a training
    killed under `distribution: mirrored` goes on under `none` (the batch is global: the same
    training). A real kill and resume: test_distribution's two workers."""
    strategy = make_strategy("mirrored")  # as the train stage makes it
    assert describe(strategy) == "MirroredStrategy with 1 replica(s)"  # this machine: 1 CPU
    with strategy.scope():
        gan = _gan()
        gan.train_on_batch(*_batch())
        saved = CheckpointStore(tmp_path).save(gan, {"epoch": 1, "step": 1})
    restored = _gan()
    CheckpointStore.restore(restored, saved)

    for network in ("generator", "discriminator"):
        left, right = getattr(gan, network).weights, getattr(restored, network).weights
        for a, b in zip(left, right, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name, optimizer in gan.optimizers.items():
        assert optimizer.iterations.numpy() == 1
        mirrored = [v.numpy() for v in optimizer.variables]
        resumed = [v.numpy() for v in restored.optimizers[name].variables]
        for a, b in zip(mirrored, resumed, strict=True):
            np.testing.assert_array_equal(a, b)


def test_deterministic_runs_with_one_seed_give_identical_losses(make_prepared):
    project = make_prepared(
        {
            "train": {"deterministic": True, "precision": "mixed_bfloat16"},
            "tracking": {"enabled": False},
        }
    )
    losses = []
    for _ in range(2):
        shutil.rmtree(project / "models", ignore_errors=True)
        run([sys.executable, "-m", "stages.train"], project)
        losses.append(pd.read_csv(project / "plots/train_losses.csv"))
    pd.testing.assert_frame_equal(losses[0], losses[1])
    assert len(losses[0]) == 4


def test_checkpoints_follow_the_epoch_and_minute_schedule():
    from colorgan.training.checkpoints import CheckpointSchedule

    every_third = CheckpointSchedule(every_epochs=3, every_minutes=0.0, last_epoch=8)
    assert [e for e in range(1, 9) if every_third.due(e)] == [3, 6, 8]  # and the last one
    timed = CheckpointSchedule(every_epochs=100, every_minutes=5.0, last_epoch=50)
    assert not timed.due(1)
    timed.previous -= 5 * 60  # five minutes since the last checkpoint
    assert timed.due(2)
    timed.done()
    assert not timed.due(3)


@pytest.mark.parametrize(("keep", "left"), [(2, [3, 4]), (0, [1, 2, 3, 4])])
def test_the_store_keeps_the_newest_checkpoints_or_every_one(tmp_path, keep, left):
    gan, store = _gan(), CheckpointStore(tmp_path, keep=keep)
    for epoch in range(1, 5):
        store.save(gan, {"epoch": epoch, "step": 3 * epoch})

    assert sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("epoch-*")) == left
    assert store.latest()[1]["step"] == 12  # the newest one resumes either way


def test_g_ema_trails_g_by_the_warmed_up_decay_colours_and_is_checkpointed(tmp_path):
    gan = _gan(ema_decay=0.9)
    assert gan.colorizer is gan.generator_ema
    start = [w.numpy().copy() for w in gan.generator.weights]
    gan.train_on_batch(*_batch())
    gan.update_average()

    trained = [w.numpy() for w in gan.generator.weights]
    assert any(not np.allclose(s, t) for s, t in zip(start, trained, strict=True))
    decay = 2 / 11  # (1 + n) / (10 + n) after n = 1 step: below 0.9, the average moves fast
    for s, t, average in zip(start, trained, gan.generator_ema.weights, strict=True):
        np.testing.assert_allclose(average.numpy(), decay * s + (1 - decay) * t, atol=1e-6)
    saved = CheckpointStore(tmp_path).save(gan, {"epoch": 1, "step": 1})
    restored = _gan(ema_decay=0.9)
    CheckpointStore.restore(restored, saved)
    for a, b in zip(gan.generator_ema.weights, restored.generator_ema.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_without_g_ema_g_itself_colours():
    gan = _gan(ema_decay=0.0)
    assert gan.generator_ema is None
    assert gan.colorizer is gan.generator


@pytest.mark.parametrize("pretraining", [False, True])
def test_each_adversarial_epoch_logs_its_mean_d_accuracy_for_the_balance_chart(
    tmp_path, pretraining
):
    gan = _gan()
    gan.set_phase(pretraining=pretraining)
    steps = [
        {"step": 1, "epoch": 1, **dict.fromkeys(LOSS_NAMES, 0.0), "d_accuracy": 0.6},
        {"step": 2, "epoch": 1, **dict.fromkeys(LOSS_NAMES, 0.0), "d_accuracy": 0.9},
    ]
    run, state = RecordingRun(), {"epoch": 0, "step": 2}
    validation = ValidationSet(*_batch())
    monitor = TrainingMonitor(
        run, CheckpointStore(tmp_path), state, steps, 1, validation, _no_noise
    )
    monitor.set_model(gan)

    monitor.on_epoch_end(0)

    epoch_rows = [scores for step, scores in run.rows if "val_psnr" in scores]
    if pretraining:  # D does not run in the L1 epochs: nothing to chart
        assert not any(key.startswith("epoch_") for key in epoch_rows[0])
    else:
        assert epoch_rows[0]["epoch_d_accuracy"] == pytest.approx(0.75)
        assert epoch_rows[0]["epoch_g_adv"] == 0.0


def _prepared(folder, photos):
    """A prepared-data folder of {split: [photo bytes]}, one shard per split, as preprocess
    writes them (the fingerprint reads the bytes, not the images)."""
    for split, contents in photos.items():
        writer = records.ShardWriter(folder / split, shard_size=2)
        for content in contents:
            writer.add(records.frame(records.encode_example({records.IMAGE: content})))
        writer.close()
    return folder


def test_how_many_checkpoints_are_kept_does_not_stop_a_resume_but_a_freeze_does(tmp_path):
    from colorgan.training.checkpoints import fingerprint

    prepared = _prepared(tmp_path, {"train": [b"a", b"b"], "val": [b"c"]})

    def of(**train):
        return fingerprint(parse_params(deep_update(TINY_PARAMS, {"train": train})), prepared)

    assert of(keep_checkpoints=0) == of(keep_checkpoints=2)
    assert of(freeze_encoder_adversarial=True) != of(freeze_encoder_adversarial=False)


def test_a_checkpoint_resumes_on_the_same_photos_anywhere_but_not_on_other_photos(tmp_path):
    """The data in the fingerprint is the prepared shards' content, not the working
    directory's dvc.lock: a training of other photos from the same folder starts afresh."""
    from colorgan.training.checkpoints import fingerprint

    params = parse_params(TINY_PARAMS)
    photos = {"train": [b"a", b"b", b"c"], "val": [b"d"], "test": [b"e"]}
    original = fingerprint(params, _prepared(tmp_path / "here", photos))

    assert fingerprint(params, _prepared(tmp_path / "copy", photos)) == original
    assert fingerprint(params, _prepared(tmp_path / "test", photos | {"test": [b"f"]})) == (
        original  # test photos never reach training
    )
    for changed in ({"train": [b"a", b"b"]}, {"train": [b"a", b"b", b"x"]}, {"val": [b"x"]}):
        other = _prepared(tmp_path / str(len(list(tmp_path.iterdir()))), photos | changed)
        assert fingerprint(params, other) != original, changed
