"""Behaviour for the PNM: targets checked and scaled to [0, 1], frames in memory, balanced batches.

Behaviour amplitudes are fish-specific (fictive swimming recorded by electrodes whose gain depends
on placement), so each fish's behaviour column is scaled to [0, 1] by its own range: its minimum
to its `quantile` quantile, clipped above. Pearson r, the score, does not depend on that scale.

A fish whose behaviour is missing or unusable still has brain activity: the earlier stages write
its probs file without a `behavior` dataset and say why in the attribute `behavior_problem`; here,
where behaviour is needed, that reason becomes the error.
"""

from dataclasses import dataclass

import numpy as np
import torch

from sbm.data.split import read_split, split_files
from sbm.data.windows import open_probs
from sbm.io.contracts import PROBS, open_checked
from sbm.io.errors import InputError


def read_behavior(path, names: list[str]) -> np.ndarray:
    """The behaviour columns `names` (T, D) of one probs file, refused with the reason if they are
    missing, non-finite, of the wrong length or constant (nothing to predict, r undefined)."""
    with open_checked(path, PROBS) as f:
        if "behavior" not in f:
            why = str(f.attrs.get("behavior_problem", "")) or "no 'behavior' dataset"
            raise InputError(
                path,
                f"this fish has no usable behaviour ({why}); the PNM stages need it for every fish of the split"
                " (a dataset without behaviour: set pnm.behaviors to [])",
            )
        behavior, T = f["behavior"][()], f["prob"].shape[0]
        known = [str(s) for s in f.attrs.get("behavior_names", [])]
    if behavior.ndim != 2 or behavior.shape != (T, len(known)):
        raise InputError(
            path, f"behavior has shape {behavior.shape}, expected ({T} frames, {len(known)} columns {known})"
        )
    missing = [n for n in names if n not in known]
    if missing:
        raise InputError(path, f"behaviour column(s) {missing} missing; this fish has {known} (set pnm.behaviors)")
    out = behavior[:, [known.index(n) for n in names]].astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        t, d = np.argwhere(bad)[0]
        raise InputError(
            path, f"behaviour {names[d]} has {int(bad[:, d].sum())} non-finite values (first at frame {t})"
        )
    constant = [n for n, column in zip(names, out.T) if column.max() == column.min()]
    if constant:
        raise InputError(path, f"behaviour {constant} is constant over all {T} frames: nothing to predict")
    return out


def scale_to_unit(behavior: np.ndarray, quantile: float) -> np.ndarray:
    """Each column from its minimum (0) to its `quantile` quantile (1), clipped to [0, 1]."""
    lo = behavior.min(axis=0)
    hi = np.quantile(behavior, quantile, axis=0)
    hi = np.where(hi > lo, hi, behavior.max(axis=0))  # a column that is mostly its minimum
    return np.clip((behavior - lo) / (hi - lo), 0, 1).astype(np.float32)


@dataclass
class BehaviorFish:
    """One fish in memory for the PNM: its brain states and scaled behaviour."""

    path: str
    subject: str
    prob: np.ndarray  # (T, N) float16: half the memory; the PNM reads z-scores, not the last digit
    xyz: np.ndarray  # (N, 3) normalised as for the SBM (sbm.data.windows.normalise_positions)
    target: np.ndarray  # (T, D) in [0, 1]
    names: list
    stimulus: np.ndarray  # (T, K) as the SBM reads it


def load_behavior_fish(path, names: list[str], quantile: float, frames: int) -> BehaviorFish:
    """One probs file, checked (sbm.data.windows.open_probs and read_behavior), in memory."""
    fish = open_probs(path, frames, keep_prob=True)
    target = scale_to_unit(read_behavior(path, names), quantile)
    return BehaviorFish(fish.path, fish.subject, fish.prob, fish.xyz, target, list(names), fish.stimulus)


def frame_index(fishes: list[BehaviorFish], frames: int) -> np.ndarray:
    """(fish, t) of every frame that has `frames` frames of history ending at it."""
    return np.array(
        [(f, t) for f, fish in enumerate(fishes) for t in range(frames - 1, len(fish.prob))], dtype=np.int64
    )


def frame_batch(
    fishes: list[BehaviorFish], index: np.ndarray, frames: int, states: list[np.ndarray] | None = None
) -> dict:
    """prob (B, F, N) of the F frames ending at each (fish, t), padded to the largest fish with
    mask (B, N); xyz (B, N, 3); target (B, D) at t. `states` replaces each fish's prob (for example
    with the SBM's forecasts)."""
    N = max(len(fishes[f].xyz) for f in np.unique(index[:, 0]))
    B = len(index)
    prob, xyz = torch.zeros(B, frames, N), torch.zeros(B, N, 3)
    mask = torch.zeros(B, N, dtype=torch.bool)
    target = torch.zeros(B, len(fishes[0].names))
    for b, (f, t) in enumerate(index):
        fish = fishes[f]
        source = fish.prob if states is None else states[f]
        n = len(fish.xyz)
        prob[b, :, :n] = torch.from_numpy(source[t - frames + 1 : t + 1].astype(np.float32))
        xyz[b, :n], mask[b, :n] = torch.from_numpy(fish.xyz), True
        target[b] = torch.from_numpy(fish.target[t])
    return {"prob": prob, "xyz": xyz, "mask": mask, "target": target}


class BalancedSampler:
    """Mini-batches that pair rare high-magnitude frames with typical ones.

    Behaviour is sparse (bouts are a few percent of frames), so uniform batches teach an L1 model
    to predict rest. Frames whose target is above the `quantile` quantile (and above the minimum)
    are the rare set; every batch takes `high_fraction` of its frames from it and the rest from
    the typical frames, each set visited in a shuffled order and reshuffled when used up."""

    def __init__(
        self, target: np.ndarray, batch_size: int, quantile: float = 0.9, high_fraction: float = 0.5, seed: int = 0
    ):
        threshold = max(float(np.quantile(target, quantile)), float(target.min()))
        self.high = np.flatnonzero(target > threshold)
        self.typical = np.flatnonzero(target <= threshold)
        if len(self.high) == 0 or len(self.typical) == 0:
            raise ValueError(f"no frames above the {quantile} quantile of the target to balance batches with")
        self.n_high = max(1, round(batch_size * high_fraction))
        self.n_typical = batch_size - self.n_high
        self.rng = np.random.default_rng(seed)
        self._queues = {"high": [], "typical": []}

    def _take(self, name: str, k: int) -> list:
        queue = self._queues[name]
        while len(queue) < k:
            queue.extend(self.rng.permutation(getattr(self, name)).tolist())
        taken, self._queues[name] = queue[:k], queue[k:]
        return taken

    def batch(self) -> np.ndarray:
        return np.array(self._take("high", self.n_high) + self._take("typical", self.n_typical))


def load_split_behavior(split_path, files: dict, names: list[str], quantile: float, frames: int) -> dict:
    """{part: [BehaviorFish]} for the parts of a split given in `files` (part -> probs files),
    each part's files checked against the split file."""
    split = read_split(split_path)
    return {
        part: [load_behavior_fish(p, names, quantile, frames) for p in split_files(split, part, paths, split_path)]
        for part, paths in files.items()
    }
