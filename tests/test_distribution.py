"""Training under tf.distribute: the maths of a replicated step, and two real workers."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from colorgan.training.checkpoints import CheckpointStore
from colorgan.training.distribution import DistributionError, make_strategy
from tests.conftest import dvc_env, free_port, run

# Runs in its own process: logical devices must be set before TensorFlow starts.
MIRRORED_STEP = """
import json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np

from colorgan.config import parse_params
from colorgan.model.gan import build_gan

# No batch normalization (the PixelGAN has some), no dropout and no random augmentation of
# D's inputs: then a batch split over two replicas must give exactly the update of the whole
# batch on one device.
params = parse_params({
    "preprocess": {"image_size": 32},
    "model": {
        "generator": {"encoder": "unet", "depth": 3, "base_filters": 8, "max_filters": 32,
                      "dropout": 0.0, "norm": "instance"},
        "discriminator": {"depth": 1, "base_filters": 8, "pixel_gan": False},
    },
    "train": {"diff_augment": []},
})
lab = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
batch = tf.data.Dataset.from_tensors((lab[..., :1], lab[..., 1:]))


def one_step(strategy):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        gan = build_gan(params)
        # Plain SGD: Adam's update hardly depends on the gradient's scale, SGD's is linear.
        gan.compile(g_optimizer=keras.optimizers.SGD(0.5), d_optimizer=keras.optimizers.SGD(0.5))
    initial = gan.generator.get_weights() + gan.discriminator.get_weights()
    losses = gan.fit(batch, epochs=1, verbose=0).history
    weights = gan.generator.get_weights() + gan.discriminator.get_weights()
    return initial, weights, {name: values[-1] for name, values in losses.items()}


def largest_difference(these, those):
    return max(float(np.abs(a - b).max()) for a, b in zip(these, those, strict=True))


initial, single, single_losses = one_step(tf.distribute.get_strategy())
_, mirrored, mirrored_losses = one_step(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(json.dumps({
    "step_size": largest_difference(initial, single),
    "mirrored_vs_single": largest_difference(mirrored, single),
    "single_losses": single_losses,
    "mirrored_losses": mirrored_losses,
}))
"""


def test_a_step_mirrored_over_two_replicas_equals_the_same_step_on_one_device(tmp_path):
    result = run([sys.executable, "-c", MIRRORED_STEP], tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["step_size"] > 1e-3  # the step moved the weights...
    assert report["mirrored_vs_single"] < 1e-5  # ...and both ways moved them alike
    assert report["mirrored_losses"] == pytest.approx(report["single_losses"], rel=1e-5)


def test_multi_worker_without_a_cluster_description_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError, match="needs TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(DistributionError, match="not valid JSON"):
        make_strategy("multi_worker")


def _start_workers(project, count: int, cluster: dict) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "stages.train"],
            cwd=project,
            env={
                **dvc_env(project),
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]


def test_two_workers_survive_a_kill_and_leave_one_run_and_one_checkpoint_series(make_prepared):
    """Two processes on loopback ports, as on two machines; the chief alone writes. The chief
    is killed mid-training (SIGKILL: at any moment, a checkpoint half-written included): the
    other worker stops with a clear error, not a hang on its lost peer, and both started
    again go on from the chief's last complete checkpoint, in the same MLflow run."""
    epochs, steps = 5, 2
    project = make_prepared(
        {"train": {"distribution": "multi_worker", "epochs": epochs, "steps_per_epoch": steps}}
    )
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    chief, worker = _start_workers(project, 2, cluster)
    second_checkpoint = project / "models/checkpoints/epoch-00002/state.json"
    deadline = time.monotonic() + 300
    while not second_checkpoint.exists():
        assert chief.poll() is None and time.monotonic() < deadline, chief.communicate()
        time.sleep(0.05)
    chief.send_signal(signal.SIGKILL)
    chief.communicate()
    _, worker_error = worker.communicate(timeout=120)  # not a hang on a lost peer
    assert worker.returncode == 2, worker_error[-3000:]
    assert "a worker of the cluster stopped" in worker_error
    killed_at = CheckpointStore(project / "models/checkpoints").latest()[1]
    assert 2 <= killed_at["epoch"] < epochs

    workers = _start_workers(project, 2, cluster)
    outputs = [process.communicate(timeout=600) for process in workers]
    for process, (stdout, stderr) in zip(workers, outputs, strict=True):
        assert process.returncode == 0, f"{stdout[-3000:]}\n{stderr[-3000:]}"
    for index, (_, stderr) in enumerate(outputs):
        assert f"with 2 replica(s), worker {index}" in stderr
        checkpoint = f"models/checkpoints/epoch-{killed_at['epoch']:05d}"
        assert (
            f"resuming from {checkpoint} (epoch {killed_at['epoch']}, step {killed_at['step']})"
            in stderr
        )
    # The losses each worker reports are all-reduced: equal only if they trained in lockstep
    # (each saw its own half of every batch). The val_ scores are each worker's own forward
    # pass and sums over the same photos: equal up to rounding, which the colourfulness of a
    # nearly gray output (0.007 of the truth's after 2 epochs) magnifies to a few 1e-3.
    final = [json.loads(stdout[stdout.rindex("{\n") :]) for stdout, _ in outputs]
    words = {key for key, value in final[0].items() if isinstance(value, str)}  # the reason
    assert {k: final[0][k] for k in words} == {k: final[1][k] for k in words}
    trained, scored = (
        [
            {k: v for k, v in w.items() if k not in words and k.startswith("val_") == own}
            for w in final
        ]
        for own in (False, True)
    )
    # abs: train.json rounds to 5 decimals, which near 0 is more than rel=1e-4
    assert trained[0] == pytest.approx(trained[1], rel=1e-4, abs=2e-5)
    assert scored[0] == pytest.approx(scored[1], rel=1e-2, abs=2e-5)
    assert final[0]["steps"] == epochs * steps

    checkpoints = sorted(p.name for p in (project / "models/checkpoints").glob("epoch-*"))
    assert checkpoints == [f"epoch-0000{epochs - 1}", f"epoch-0000{epochs}"]  # the last two
    losses = pd.read_csv(project / "plots/train_losses.csv")
    assert losses["step"].tolist() == list(range(1, epochs * steps + 1))  # no gap, no repeat
    # One MLflow run, which got each step once: the steps redone after the kill were never
    # sent twice.
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = db.execute("select run_uuid from runs").fetchall()
        logged = db.execute("select step from metrics where key='g_l1' order by step").fetchall()
    assert runs == [(json.loads((project / "models/run.json").read_text())["run_id"],)]
    assert [step for (step,) in logged] == list(range(1, epochs * steps + 1))
