"""Training-epoch aggregates that survive a mid-epoch resume.

An epoch's train/loss and train/acc are means over all of its batches. Lightning keeps the running sums in
memory only, so a run resumed mid-epoch would report the mean of the batches after the resumption alone. A
module with this mixin keeps those aggregates as torchmetrics metrics (MeanMetric, accuracy) and names them in
`resumable_epoch_metrics()`; their partial state goes into every checkpoint (under EPOCH_METRICS_KEY, beside
the weights, not in the state_dict) and comes back when the run resumes. A fresh epoch starts them from zero
(Lightning calls on_train_epoch_start for a fresh epoch only, not for the rest of an interrupted one).
"""

from __future__ import annotations

from typing import Any

from torchmetrics import Metric

EPOCH_METRICS_KEY = "train_epoch_metrics"


def metric_state(metric: Metric) -> dict[str, Any]:
    """The metric's accumulated state, through torchmetrics' own state_dict (persistent only while read)."""
    metric.persistent(True)
    try:
        return dict(metric.state_dict())
    finally:
        metric.persistent(False)


def restore_metric_state(metric: Metric, state: dict[str, Any]) -> None:
    metric.persistent(True)
    try:
        metric.load_state_dict(state)
    finally:
        metric.persistent(False)


class ResumableEpochMetrics:
    """Mixin for a LightningModule whose training-epoch aggregates are resumed mid-epoch (see the module)."""

    def resumable_epoch_metrics(self) -> dict[str, Metric]:
        raise NotImplementedError(f"{type(self).__name__} names the training metrics it aggregates over an epoch")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[EPOCH_METRICS_KEY] = {
            name: metric_state(metric) for name, metric in self.resumable_epoch_metrics().items()
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get(EPOCH_METRICS_KEY) or {}
        for name, metric in self.resumable_epoch_metrics().items():
            if name in saved:
                restore_metric_state(metric, saved[name])

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        for metric in self.resumable_epoch_metrics().values():
            metric.reset()
