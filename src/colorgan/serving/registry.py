"""Model registry: register each trained colorizer, and crown a champion only when it is better.

Rule: the first registered version becomes champion; a later version takes the alias only if
its test metric is strictly better than the champion's (a tie keeps the current champion, so
the served model changes only for a measurable gain); a version without the metric is never
promoted.
"""

from __future__ import annotations

from dataclasses import dataclass

from colorgan.errors import ColorganError

CHAMPION = "champion"


class PromotionError(ColorganError):
    """The run cannot be registered (no model logged, unknown run)."""


@dataclass(frozen=True)
class Decision:
    version: str
    promoted: bool
    reason: str


def register_and_promote(
    run_id: str,
    model_name: str = "colorgan",
    metric: str = "test_psnr",
    greater_is_better: bool = True,
) -> Decision:
    """Register runs:/<run_id>/model as a new version of model_name and decide on promotion."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        run = client.get_run(run_id)
        version = mlflow.register_model(f"runs:/{run_id}/model", model_name).version
    except MlflowException as error:
        raise PromotionError(f"cannot register run {run_id}: {error.message}") from None
    candidate = run.data.metrics.get(metric)
    try:
        champion = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        champion = None

    if candidate is None:
        return Decision(version, False, f"version {version} has no {metric}: not promoted")
    if champion is None:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        return Decision(version, True, f"version {version} is the first model: champion")
    best = client.get_run(champion.run_id).data.metrics.get(metric)
    better = best is None or (candidate > best if greater_is_better else candidate < best)
    if better:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        return Decision(
            version,
            True,
            f"version {version} beats champion v{champion.version} on {metric}: "
            f"{candidate:.4f} vs {best}",
        )
    verdict = "ties" if candidate == best else "does not beat"
    return Decision(
        version,
        False,
        f"version {version} {verdict} champion v{champion.version} on {metric}: "
        f"{candidate:.4f} vs {best:.4f}; champion kept",
    )
