"""Next-step forecasts on held-out fish: the SBM beside baselines on exactly the same windows.

For every evaluated window the model reads `context` frames and forecasts the next one; the
error is the mean absolute difference between forecast and true spike probability over the fish's
neurons. Baselines see the same context: persistence (the last frame) and the context mean (each
neuron's mean over the context frames). Neither needs training data, so nothing of the held-out
fish beyond each window's own past is used.
"""

import torch
from tqdm import tqdm

from sbm.data.windows import Windows, collate, model_inputs, open_fish
from sbm.model.sbm import SBM

BASELINES = ("persistence", "context_mean")


@torch.no_grad()
def next_step_errors(model: SBM, path, stride: int = 1, batch_size: int = 8, device="cpu", progress: bool = False) -> dict:
    """Sums of absolute errors of the SBM and the baselines at each window's last frame."""
    fish = open_fish(path, model.cfg.context + 1)
    windows = Windows([fish], model.cfg.context, stride)
    model.eval().to(device)
    sums = {name: 0.0 for name in ("sbm",) + BASELINES}
    count = 0
    batches = range(0, len(windows), batch_size)
    for b in tqdm(batches, disable=not progress, desc=f"next step {fish.subject}", unit="batch"):
        batch = {k: v.to(device) for k, v in collate([windows[i] for i in range(b, min(b + batch_size, len(windows)))]).items()}
        (prob, xyz, stimulus, mask), target = model_inputs(batch)
        truth = target[:, -1]
        forecasts = {"sbm": torch.sigmoid(model(prob, xyz, stimulus, mask)[:, -1]), "persistence": prob[:, -1], "context_mean": prob.mean(dim=1)}
        for name, value in forecasts.items():
            sums[name] += float((value - truth).abs().sum(dtype=torch.float64))
        count += truth.numel()
    return {"subject": fish.subject, "windows": len(windows), "values": count, "abs_error_sums": sums}


def summarise(per_fish: list[dict]) -> dict:
    """MAE over all held-out fish (every value weighted equally) and the SBM's ratio to each baseline."""
    count = sum(f["values"] for f in per_fish)
    mae = {name: sum(f["abs_error_sums"][name] for f in per_fish) / count for name in per_fish[0]["abs_error_sums"]}
    per_subject = {f["subject"]: {name: s / f["values"] for name, s in f["abs_error_sums"].items()} for f in per_fish}
    return {"mae": mae, "sbm_over_baseline": {b: mae["sbm"] / mae[b] for b in BASELINES}, "per_subject": per_subject,
            "windows": sum(f["windows"] for f in per_fish), "values": count}
