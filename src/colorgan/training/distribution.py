"""Where training runs: one device, all local GPUs, or several machines (tf.distribute).

``train.batch_size`` is always the global batch: a strategy splits it over its replicas, so
the same params give the same optimisation whether one device or eight run it.

Multi-worker training follows TensorFlow's convention: every worker runs the same
``python -m stages.train`` with its own ``TF_CONFIG``; the chief (task ``chief``, else
``worker`` 0) alone writes checkpoints, models, metrics and the MLflow run, and the others
compute. All workers must see the same ``models/checkpoints`` (shared storage) to resume.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from colorgan.errors import ColorganError


class DistributionError(ColorganError):
    """The distribution setting cannot run here; the message says what is missing."""


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for ``train.distribution``. Create it before any other
    TensorFlow work: a multi-worker strategy must configure the runtime's collectives first."""
    if kind == "none":
        return tf.distribute.get_strategy()  # the default: no replication
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()  # every local GPU; the CPU when there is none
    if kind == "multi_worker":
        config = _tf_config()
        cluster = config.get("cluster", {})
        if not (cluster.get("worker") or cluster.get("chief")) or "task" not in config:
            raise DistributionError(
                "train.distribution=multi_worker needs TF_CONFIG with a 'cluster' (worker "
                'addresses) and this process\'s \'task\', e.g. {"cluster": {"worker": '
                '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise DistributionError(f"unknown train.distribution {kind!r}")


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DistributionError(f"TF_CONFIG is not valid JSON: {error}") from None


def describe(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    where = f", {resolver.task_type} {resolver.task_id}" if resolver and resolver.task_type else ""
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s){where}"


def shard_by_example(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker keeps every n-th batch. Sharding by file would need at least as many
    TFRecord shards as workers; by batch works for any data, and the input pipeline is a
    pure function of the seed, so the workers' batches never overlap."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
