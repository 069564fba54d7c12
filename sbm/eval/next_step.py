"""Next-step forecasts on held-out fish: the SBM beside baselines on exactly the same windows.

For every evaluated window the model reads `context` frames and forecasts the next one; the
error is the mean absolute difference between forecast and true spike probability over the fish's
neurons. The baselines forecast the same frames:
  persistence   the last context frame;
  context_mean  each neuron's mean over the context frames;
  neuron_mean   each neuron's mean over every earlier frame of the recording (causal: nothing at
                or after the forecast frame, and nothing from other fish);
  ridge, mlp    per-neuron forecasters fitted on the training fish (sbm.eval.forecasters), if given.
Calibration (a reliability table and the ECE) is gathered on the same forecasts.
"""

import h5py
import numpy as np
import torch
from tqdm import tqdm

from sbm.data.windows import Windows, collate, model_inputs, open_fish
from sbm.model.sbm import SBM

BASELINES = ("persistence", "context_mean", "neuron_mean")


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
def next_step_errors(model: SBM, path, stride: int = 1, batch_size: int = 8, device="cpu", forecasters=None,
                     reliability: dict | None = None, progress: bool = False) -> dict:
    """Sums of absolute errors of the SBM and the baselines at each window's last frame, and the
    mean activity over neurons of the truth and of the SBM's forecast per window. `reliability`
    (forecaster name -> sbm.eval.metrics.Reliability) accumulates calibration across calls."""
    fish = open_fish(path, model.cfg.context + 1)
    windows = Windows([fish], model.cfg.context, stride)
    model.eval().to(device)
    names = ("sbm",) + BASELINES + (("ridge", "mlp") if forecasters is not None else ())
    sums = dict.fromkeys(names, 0.0)
    with h5py.File(fish.path, "r") as probs_file:
        history = RunningMean(probs_file["prob"])
        count, activity = 0, {"frame": [], "true": [], "sbm": []}
        for b in tqdm(range(0, len(windows), batch_size), disable=not progress, desc=f"next step {fish.subject}", unit="batch"):
            batch = collate([windows[i] for i in range(b, min(b + batch_size, len(windows)))])
            (prob, xyz, stimulus, mask), target = model_inputs(batch)
            truth = target[:, -1]
            forecasts = {
                "sbm": torch.sigmoid(model(prob.to(device), xyz.to(device), stimulus.to(device), mask.to(device))[:, -1]).cpu(),
                "persistence": prob[:, -1],
                "context_mean": prob.mean(dim=1),
                "neuron_mean": torch.from_numpy(np.stack([history.until(int(s) + model.cfg.context) for s in batch["start"]])).float(),
            }
            if forecasters is not None:
                forecasts.update(forecasters.predict(batch["prob"], batch["stimulus"], batch["mask"]))
            for name, value in forecasts.items():
                sums[name] += float(((value - truth).abs() * mask).sum(dtype=torch.float64))
                if reliability is not None and name in reliability:
                    reliability[name].update(value, truth, mask)
            count += int(mask.sum())
            n = mask.sum(dim=1)
            activity["frame"] += (batch["start"] + model.cfg.context).tolist()
            activity["true"] += ((truth * mask).sum(dim=1) / n).tolist()
            activity["sbm"] += ((forecasts["sbm"] * mask).sum(dim=1) / n).tolist()
    return {"subject": fish.subject, "windows": len(windows), "values": count, "abs_error_sums": sums, "mean_activity": activity}


def summarise(per_fish: list[dict]) -> dict:
    """MAE over all held-out fish (every value weighted equally) and the SBM's ratio to each baseline."""
    count = sum(f["values"] for f in per_fish)
    mae = {name: sum(f["abs_error_sums"][name] for f in per_fish) / count for name in per_fish[0]["abs_error_sums"]}
    per_subject = {f["subject"]: {name: s / f["values"] for name, s in f["abs_error_sums"].items()} for f in per_fish}
    return {"mae": mae, "sbm_over_baseline": {b: mae["sbm"] / mae[b] for b in mae if b != "sbm"}, "per_subject": per_subject,
            "windows": sum(f["windows"] for f in per_fish), "values": count,
            "mean_activity": {f["subject"]: f["mean_activity"] for f in per_fish if "mean_activity" in f}}
