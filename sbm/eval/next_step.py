"""Next-step forecasts on held-out fish: the SBM beside baselines on exactly the same windows.

For every evaluated window the model reads `context` frames and forecasts the next one; the
error is the mean absolute difference between forecast and observed spike probability (the one
inferred from the recording's DF/F) over the fish's neurons. The baselines forecast the same frames:
  persistence   the last context frame;
  context_mean  each neuron's mean over the context frames;
  neuron_mean   each neuron's mean over every earlier frame of the recording (causal: nothing at
                or after the forecast frame, and nothing from other fish);
  the fitted    forecasters fitted on the training fish: per neuron (ridge, mlp), reading other
                neurons (ridge_neighbours, ridge_pca; sbm.model.baselines), peers (POCO, the SBM
                without spatial attention), and on simulated fish the ceiling (an oracle).
Calibration (a reliability table and the ECE) is gathered on the same forecasts.

Simulated fish are also scored against the simulator's truth (sbm.eval.truth): the simulator's
probability of a spike of each neuron, and each population's mean over its neurons. "observed"
always names the recording's (inferred) probabilities, "truth" only the simulator's.

Context length: the SBM is causal in time and trained to forecast at every step of a window, so
step t of one forward pass is its forecast from the last t + 1 frames alone. The MAE at every step
is therefore the MAE against the length of history the model sees, at no extra cost; the context
mean over the same frames and persistence are scored the same way beside it.

Brain states for the distributional comparison (sbm.eval.fidelity): the observed frame and every
forecaster's forecast of it, kept for `keep_states` evenly spaced windows.
"""

import h5py
import numpy as np
import torch
from tqdm import tqdm

from sbm.data.windows import Windows, collate, model_inputs, open_probs, spaced_windows, window
from sbm.eval.truth import SimulatedTruth, TruthErrors, population_context, summarise_truth
from sbm.model.forecast import Forecaster, abs_error
from sbm.model.sbm import SBM

BASELINES = ("persistence", "context_mean", "neuron_mean")
BY_CONTEXT = ("sbm", "persistence", "context_mean")  # forecasters scored at every context length


class RunningMean:
    """Each neuron's mean over frames [0, t), for increasing t: every frame is read once."""

    def __init__(self, prob: h5py.Dataset):
        self.prob, self.sum, self.upto = prob, np.zeros(prob.shape[1]), 0

    def until(self, t: int) -> np.ndarray:
        if t < self.upto:
            raise ValueError("frames must be asked for in increasing order")
        self.sum += self.prob[self.upto : t].sum(axis=0, dtype=np.float64)
        self.upto = max(self.upto, t)
        return self.sum / t


@torch.no_grad()
def next_step_errors(
    model: SBM,
    path,
    stride: int = 1,
    batch_size: int = 8,
    device="cpu",
    fitted: dict[str, tuple[Forecaster, bool]] | None = None,
    reliability: dict | None = None,
    keep_states: int = 0,
    progress: bool = False,
    truth: SimulatedTruth | None = None,
    first_frame: int = 0,
) -> dict:
    """Sums of absolute errors of the SBM and the baselines at each window's last frame (and, for
    BY_CONTEXT, at every step: index t is the forecast from t + 1 frames), the mean activity over
    neurons of the observed frame and of the SBM's forecast per window, and the brain states of
    `keep_states` windows. `fitted`: name -> (forecaster, whether it reads the oracle's stimulus;
    sbm.eval.load.Evaluated.fitted). `reliability` (forecaster name ->
    sbm.eval.metrics.Reliability) accumulates calibration across calls. With the simulator's
    `truth`, the same forecasts are also scored against the simulator's probabilities. Windows start at
    `first_frame` or later (sbm.eval.adapt scores the frames after those a model was tuned on)."""
    C = model.cfg.context
    fish = open_probs(path, C + 1)
    windows = Windows([fish], C, stride, frames=(first_frame, None))
    kept = set(spaced_windows(windows, keep_states)) if keep_states else set()
    model.eval().to(device)
    fitted = fitted or {}
    names = ("sbm",) + BASELINES + tuple(fitted)
    sums = dict.fromkeys(names, 0.0)
    by_context = {name: np.zeros(C) for name in BY_CONTEXT}
    states = {"frame": [], "observed": [], **{name: [] for name in names}}
    steps = torch.arange(1, C + 1, dtype=torch.float32)[None, :, None]
    against_truth = TruthErrors(truth) if truth is not None else None
    with h5py.File(fish.path, "r") as probs_file:
        history = RunningMean(probs_file["prob"])
        count, activity = 0, {"frame": [], "observed": [], "sbm": []}
        for b in tqdm(
            range(0, len(windows), batch_size), disable=not progress, desc=f"next step {fish.subject}", unit="batch"
        ):
            indices = list(range(b, min(b + batch_size, len(windows))))
            batch = collate([windows[i] for i in indices])
            (prob, xyz, stimulus, mask), _ = model_inputs(batch)
            target = batch["prob"][:, 1:]  # scored against the observed frames (the truth separately)
            sbm_all = torch.sigmoid(
                model(prob.to(device), xyz.to(device), stimulus.to(device), mask.to(device))
            ).cpu()  # (B, C, N)
            every_step = {"sbm": sbm_all, "persistence": prob, "context_mean": prob.cumsum(dim=1) / steps}
            for name, value in every_step.items():
                by_context[name] += abs_error(value, target, mask).sum(dim=0).numpy()
            recorded = target[:, -1]
            forecasts = {name: value[:, -1] for name, value in every_step.items()}
            forecasts["neuron_mean"] = torch.from_numpy(
                np.stack([history.until(int(s) + C) for s in batch["start"]])
            ).float()
            if any(oracle for _, oracle in fitted.values()):
                oracle_stimulus = torch.cat(
                    (batch["stimulus"], population_context(truth.population_prob, batch["start"], C + 1)), dim=-1
                )
                oracle_stimulus = window(batch["prob"], oracle_stimulus, 0, C)[1]
            for name, (forecast, oracle) in fitted.items():
                forecasts[name] = forecast(prob, xyz, oracle_stimulus if oracle else stimulus, mask)
            if against_truth is not None:
                true_prob = against_truth.target(batch["start"] + C)
                for name, value in forecasts.items():
                    against_truth.add(name, value, true_prob, mask)
                against_truth.count(len(indices), fish.n_neurons)
            for name, value in forecasts.items():
                sums[name] += float(abs_error(value, recorded, mask).sum())
                if reliability is not None and name in reliability:
                    reliability[name].update(value, recorded, mask)
            count += int(mask.sum())
            n = mask.sum(dim=1)
            activity["frame"] += (batch["start"] + C).tolist()
            activity["observed"] += ((recorded * mask).sum(dim=1) / n).tolist()
            activity["sbm"] += ((forecasts["sbm"] * mask).sum(dim=1) / n).tolist()
            for row, i in enumerate(indices):
                if i in kept:  # one fish per call: no padding to strip
                    states["frame"].append(int(batch["start"][row]) + C)
                    states["observed"].append(recorded[row].numpy())
                    for name in names:
                        states[name].append(forecasts[name][row].numpy())
    return {
        "subject": fish.subject,
        "windows": len(windows),
        "values": count,
        "abs_error_sums": sums,
        "abs_error_sums_by_context": {name: v.tolist() for name, v in by_context.items()},
        "mean_activity": activity,
        "states": {k: np.asarray(v, dtype=np.int64 if k == "frame" else np.float32) for k, v in states.items()}
        if kept
        else None,
        "truth": against_truth.result() if against_truth is not None else None,
    }


def summarise(per_fish: list[dict]) -> dict:
    """MAE over all held-out fish (every value weighted equally) and the SBM's ratio to each baseline."""
    count = sum(f["values"] for f in per_fish)
    mae = {name: sum(f["abs_error_sums"][name] for f in per_fish) / count for name in per_fish[0]["abs_error_sums"]}
    per_subject = {f["subject"]: {name: s / f["values"] for name, s in f["abs_error_sums"].items()} for f in per_fish}
    by_context = {
        name: (np.sum([f["abs_error_sums_by_context"][name] for f in per_fish], axis=0) / count).tolist()
        for name in per_fish[0].get("abs_error_sums_by_context", {})
    }
    return {
        "mae": mae,
        "sbm_over_baseline": {b: mae["sbm"] / mae[b] for b in mae if b != "sbm"},
        "per_subject": per_subject,
        "mae_by_context": {"frames_seen": list(range(1, len(next(iter(by_context.values()), [])) + 1)), **by_context},
        "windows": sum(f["windows"] for f in per_fish),
        "values": count,
        "mean_activity": {f["subject"]: f["mean_activity"] for f in per_fish if "mean_activity" in f},
        "truth": summarise_truth([f["truth"] for f in per_fish]) if per_fish[0].get("truth") else None,
    }
