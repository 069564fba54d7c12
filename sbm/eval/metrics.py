"""Calibration of probability forecasts: a reliability table and the expected calibration error.

The targets are probabilities themselves (P(spike) per neuron and frame), so a bin's "observed"
value is the mean true probability of the forecasts that fell into it.
"""

import torch


class Reliability:
    """Accumulates forecasts in equal-width bins of the predicted probability."""

    def __init__(self, bins: int = 10):
        self.bins = bins
        self.count = torch.zeros(bins, dtype=torch.float64)
        self.predicted = torch.zeros(bins, dtype=torch.float64)
        self.observed = torch.zeros(bins, dtype=torch.float64)

    def update(self, pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        if mask is not None:
            pred, truth = pred[mask.expand_as(pred)], truth[mask.expand_as(truth)]
        pred, truth = pred.reshape(-1).double(), truth.reshape(-1).double()
        which = (pred * self.bins).long().clamp(0, self.bins - 1)
        self.count += torch.bincount(which, minlength=self.bins)
        self.predicted += torch.bincount(which, weights=pred, minlength=self.bins)
        self.observed += torch.bincount(which, weights=truth, minlength=self.bins)

    def result(self) -> dict:
        """Per bin: count, mean predicted and mean observed (None where empty); ECE = the
        count-weighted mean of |mean predicted - mean observed|."""
        filled = self.count > 0
        pred = torch.where(filled, self.predicted / self.count.clamp(min=1), torch.nan)
        obs = torch.where(filled, self.observed / self.count.clamp(min=1), torch.nan)
        ece = float(((pred - obs).abs()[filled] * self.count[filled]).sum() / self.count.sum())
        as_list = lambda t: [None if v != v else float(v) for v in t.tolist()]  # noqa: E731  (NaN -> None in JSON)
        return {
            "bin_edges": [b / self.bins for b in range(self.bins + 1)],
            "count": self.count.long().tolist(),
            "mean_predicted": as_list(pred),
            "mean_observed": as_list(obs),
            "ece": ece,
        }
