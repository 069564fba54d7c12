"""One forecasting interface: what a forecaster reads, one rollout, one masked MAE.

A forecaster reads a window and forecasts the frame after it:

    forecaster(prob, xyz, stimulus, mask) -> (B, N) P(spike) in the frame after the window

    prob      (B, C, N)  spike probabilities of frames s .. s + C - 1
    xyz       (B, N, 3)  normalised positions
    stimulus  (B, C, K)  the stimulus of frames s + 1 .. s + C: each step carries the stimulus of
                         the frame it forecasts (external, known when that frame is recorded)
    mask      (B, N)     True for real neurons (a batch pads its fish to the largest)

These are the SBM's forward inputs (the SBM forecasts at every step; a forecaster returns the last).
sbm.data.windows.window cuts them out of a longer stretch: the stimulus convention lives there; the SBM
(`sbm_forecaster`), the baselines (`persistence`, `context_mean`, sbm.model.baselines) and any
future peer implement the interface, and `rollout` rolls any of them out.
"""

from contextlib import nullcontext
from typing import Callable, Protocol

import torch

from sbm.data.windows import window
from sbm.model.sbm import SBM


class Forecaster(Protocol):
    def __call__(
        self, prob: torch.Tensor, xyz: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor: ...


def sbm_forecaster(model: SBM) -> Forecaster:
    """The SBM as a forecaster (gradients flow if enabled: the pattern search needs them)."""

    def forecast(prob, xyz, stimulus, mask):
        return torch.sigmoid(model(prob, xyz, stimulus, mask)[:, -1])

    return forecast


def silence_unseen_inputs(layer: torch.nn.Linear, seen, first: int = 0) -> None:
    """Zero the weights of `layer` that read an input never on in training: its input columns
    first .. first + K - 1, of which `seen` (K,) marks those on somewhere (for a stimulus one-hot,
    `Windows.stimuli_seen`). Such a column gets no gradient, so it would keep its random start and
    new data where it is on (a stimulus the training fish never showed) would get noise from it;
    at zero, where it stays, it reads as off, as ridge gives it no weight. With no stimulus (K = 0)
    the layer's one column of zeros is zeroed too."""
    seen = torch.as_tensor(seen, dtype=torch.bool)
    unseen = torch.ones(max(len(seen), 1), dtype=torch.bool)
    unseen[: len(seen)] = ~seen
    with torch.no_grad():
        layer.weight[:, first : first + len(unseen)][:, unseen] = 0


def persistence(prob, xyz, stimulus, mask):
    """The last frame of the window, carried forward."""
    return prob[:, -1]


def context_mean(prob, xyz, stimulus, mask):
    """Each neuron's mean over the window."""
    return prob.mean(dim=1)


Edit = Callable[[int, torch.Tensor], torch.Tensor]


def rollout(
    forecast: Forecaster,
    prob: torch.Tensor,
    xyz: torch.Tensor,
    stimulus: torch.Tensor,
    mask: torch.Tensor,
    horizon: int,
    edit: Edit | None = None,
    grad: bool = False,
) -> torch.Tensor:
    """Forecasts (B, horizon, N) of the frames after `prob` (B, C, N), the C frames the rollout
    starts from, with a fixed sliding window: each forecast joins the window and the oldest frame
    leaves it, so after C steps the forecaster reads only its own output. `stimulus` (B, C +
    horizon, K) covers the start frames and the forecast ones (the true future stimulus).
    `edit(step, window)` may change each window before it is read (a perturbation experiment);
    with `grad`, gradients flow through every step where autograd is on (the pattern search)."""
    B, C, N = prob.shape
    if stimulus.shape[1] != C + horizon:
        raise ValueError(f"stimulus covers {stimulus.shape[1]} frames, the rollout needs {C + horizon}")
    seq = prob
    with nullcontext() if grad else torch.no_grad():
        for h in range(horizon):
            frames, stim = window(seq, stimulus, h, C)
            if edit is not None:
                frames = edit(h, frames)
            seq = torch.cat((seq, forecast(frames, xyz, stim, mask)[:, None]), dim=1)
    return seq[:, C:]


def abs_error(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """|pred - truth| summed over the real neurons: pred and truth (B, ..., N), mask (B, N) ->
    (B, ...) in float64. Every MAE of the project (training, evaluation) is such sums divided by
    the count of real values they cover."""
    mask = mask.reshape(mask.shape[0], *[1] * (pred.ndim - 2), mask.shape[1])
    return ((pred - truth).abs() * mask).sum(dim=-1, dtype=torch.float64)
