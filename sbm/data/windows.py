"""Training windows from the probs files: context + 1 frames, any number of neurons, streamed.

A window of frames s .. s + context feeds frames s .. s + context - 1 to the model and scores its
forecasts of frames s + 1 .. s + context. Fish differ in neuron count, so a batch is padded to its
largest fish with a mask. Frames are read from HDF5 in blocks (a few blocks per fish in memory),
and an epoch visits blocks in a shuffled order with windows shuffled within a pool of blocks, so
a fish that does not fit in memory still streams with little re-reading.
"""

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from sbm.cli import Command, arg
from sbm.data.split import Split, read_split, split_files
from sbm.io.contracts import PROBS, open_checked
from sbm.io.errors import InputError


@dataclass
class Fish:
    """One probs file, checked, with what every window of it shares."""

    path: str
    subject: str
    n_frames: int
    n_neurons: int
    fps: float
    xyz: np.ndarray  # (N, 3) positions normalised per fish: centred, longest half-axis 1
    stimulus: np.ndarray  # (T, K) one-hot
    stimulus_names: list
    mean_prob: float  # over all frames and neurons
    prob: np.ndarray | None = None  # (T, N) float16, only when open_probs was asked to keep it
    # The file's `target` (the known-answer ladder: what forecasters are trained on, when it is
    # not what they read), else `prob`.
    target: str = "prob"


def normalise_positions(xyz: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and divide every axis by the same (largest) half-extent, so the
    anatomy keeps its shape and the brain spans [-1, 1] along its longest axis."""
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    half = float((hi - lo).max()) / 2
    return ((xyz - (lo + hi) / 2) / (half if half > 0 else 1.0)).astype(np.float32)


def open_probs(path, min_frames: int, block_frames: int = 512, keep_prob: bool = False) -> Fish:
    """Read and check a probs file: datasets present, shapes agree, probabilities finite and in
    [0, 1]. With keep_prob, the probabilities read for the check are kept (float16: half the
    memory), so a caller that needs them all does not read the file twice."""
    with open_checked(path, PROBS) as f:
        T, N = f["prob"].shape
        if N == 0 or T == 0:
            raise InputError(path, f"empty fish: prob has shape {(T, N)}")
        if T < min_frames:
            raise InputError(path, f"{T} frames, fewer than the {min_frames} of one window (context + 1)")
        xyz, stimulus = f["xyz"][()], f["stimulus"][()]
        if not np.all(np.isfinite(xyz)):
            raise InputError(path, "xyz has non-finite positions")
        if not np.all(np.isfinite(stimulus)):
            raise InputError(path, "stimulus has non-finite values")
        total, kept = 0.0, []
        for start in range(0, T, block_frames):
            block = f["prob"][start : start + block_frames]
            total += float(block.sum(dtype=np.float64))
            if keep_prob:
                kept.append(block.astype(np.float16))
            bad = ~np.isfinite(block) | (block < 0) | (block > 1)
            if bad.any():
                t, n = np.argwhere(bad)[0]
                raise InputError(
                    path, f"prob[{start + t}, {n}] = {block[t, n]}: probabilities must be finite and in [0, 1]"
                )
        names = [str(s) for s in f.attrs["stimulus_names"]]
        if "target" in f and f["target"].shape != (T, N):
            raise InputError(path, f"target has shape {f['target'].shape}, prob {(T, N)}")
        return Fish(
            str(path),
            str(f.attrs["subject"]),
            T,
            N,
            float(f.attrs["fps"]),
            normalise_positions(xyz),
            stimulus.astype(np.float32),
            names,
            total / (T * N),
            np.concatenate(kept) if keep_prob else None,
            "target" if "target" in f else "prob",
        )


def check_same_stimuli(fishes: list[Fish]) -> None:
    """Every fish must share the stimulus vocabulary the model's stimulus token was built for."""
    first = fishes[0]
    for fish in fishes[1:]:
        if fish.stimulus_names != first.stimulus_names:
            raise InputError(
                fish.path, f"stimulus columns {fish.stimulus_names} differ from {first.path}'s {first.stimulus_names}"
            )


def context_frames(context: int, context_s: float | None, fishes: list[Fish]) -> int:
    """The context in frames: `context`, or `context_s` seconds at the median frame rate of
    `fishes` (the training fish), so that every model of a dataset reads the same frames."""
    if context_s is None:
        return context
    return max(1, round(context_s * float(np.median([f.fps for f in fishes]))))


def check_long_enough(fishes: list[Fish], context: int) -> None:
    """Every fish must hold one window (context + 1 frames); the short ones are named together."""
    short = [f for f in fishes if f.n_frames < context + 1]
    if short:
        listed = ", ".join(f"{Path(f.path).name} ({f.n_frames})" for f in short)
        raise InputError(short[0].path, f"fewer frames than one window of {context + 1}: {listed}")


def check_frame_rates(fps: dict[str, float], reference: float, tolerance: float, whose: str) -> None:
    """Refuse, all named in one error, the fish (path -> frames per second) whose frame rate
    differs from `reference` by more than `tolerance` (a share of it): a model reads frames, so a
    fish at another rate would be read at another time scale."""
    off = {path: rate for path, rate in fps.items() if abs(rate - reference) > tolerance * reference}
    if off:
        listed = ", ".join(f"{Path(path).name} at {rate:.3g} Hz" for path, rate in off.items())
        raise InputError(
            next(iter(off)),
            f"frame rate more than {tolerance:.0%} from {whose} ({reference:.3g} Hz): {listed}; resample those fish"
            " or raise sbm.train.fps_tolerance",
        )


@dataclass(kw_only=True)
class TrainingFish(Command):
    """The arguments of a script that fits on the training fish and selects on the validation fish
    (its Args extends them)."""

    split: Path = arg("split.yaml from the split rule")
    train: list[Path] = arg("the training fish's probs files")
    val: list[Path] = arg("the validation fish's probs files")
    context: int = arg("frames a forecaster reads (the SBM's context)")
    context_s: float | None = arg("the context in seconds instead (sbm.model.context_s): sets context", None)

    def open_fish(self) -> tuple[Split, dict[str, list[Fish]]]:
        """The split, and its training and validation fish opened and checked against it, one
        window long at least, sharing one stimulus vocabulary. A context in seconds is resolved
        to frames here, as the SBM's training does (`context` then holds the frames)."""
        split = read_split(self.split)
        fish = {
            part: [open_probs(p, 2) for p in split_files(split, part, getattr(self, part), self.split)]
            for part in ("train", "val")
        }
        self.context = context_frames(self.context, self.context_s, fish["train"])
        check_long_enough(fish["train"] + fish["val"], self.context)
        check_same_stimuli(fish["train"] + fish["val"])
        return split, fish


class Windows(torch.utils.data.Dataset):
    """Every window of `context + 1` frames, every `stride` frames, of the given fish; with
    `frames` (first, stop), only the windows lying wholly within those frames of each fish."""

    def __init__(
        self,
        fishes: list[Fish],
        context: int,
        stride: int = 1,
        block_frames: int = 128,
        cached_blocks: int = 16,
        frames: tuple[int, int] | None = None,
    ):
        self.fishes, self.context, self.block_frames, self.cached_blocks = fishes, context, block_frames, cached_blocks
        first, stop = frames or (0, None)
        self.index = [
            (f, s)
            for f, fish in enumerate(fishes)
            for s in range(first, min(fish.n_frames if stop is None else stop, fish.n_frames) - context, stride)
        ]
        self._files, self._blocks, self._pid = {}, OrderedDict(), None

    def __len__(self):
        return len(self.index)

    def stimuli_seen(self) -> np.ndarray:
        """(K,) bool: the stimulus columns on in some frame whose stimulus a window reads (s + 1 ..
        s + context, `window`'s convention)."""
        seen = np.zeros(self.fishes[0].stimulus.shape[1], bool)
        for f, s in self.index:
            seen |= self.fishes[f].stimulus[s + 1 : s + self.context + 1].any(axis=0)
        return seen

    def block_of(self, i: int) -> tuple[int, int]:
        f, s = self.index[i]
        return f, s // self.block_frames

    def frames(self, f: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames of one block plus the context that windows starting in it reach into (LRU cache):
        what the forecasters read (prob) and are trained on (the fish's target)."""
        if self._pid != os.getpid():  # h5py handles do not survive a fork: reopen in each worker
            self._files, self._blocks, self._pid = {}, OrderedDict(), os.getpid()
        key = (f, block)
        if key not in self._blocks:
            if f not in self._files:
                self._files[f] = h5py.File(self.fishes[f].path, "r")
            start, file = block * self.block_frames, self._files[f]
            frames = slice(start, start + self.block_frames + self.context)
            prob = file["prob"][frames]
            target = prob if self.fishes[f].target == "prob" else file[self.fishes[f].target][frames]
            self._blocks[key] = prob, target
            if len(self._blocks) > self.cached_blocks:
                self._blocks.popitem(last=False)
        self._blocks.move_to_end(key)
        return self._blocks[key]

    def __getitem__(self, i: int) -> dict:
        f, s = self.index[i]
        fish, offset = self.fishes[f], s % self.block_frames
        prob, target = (x[offset : offset + self.context + 1] for x in self.frames(f, s // self.block_frames))
        return {
            "prob": torch.from_numpy(np.ascontiguousarray(prob)),
            "target": torch.from_numpy(np.ascontiguousarray(target)),
            "xyz": torch.from_numpy(fish.xyz),
            "stimulus": torch.from_numpy(fish.stimulus[s : s + self.context + 1]),
            "fish": f,
            "start": s,
        }


def collate(items: list[dict]) -> dict:
    """Pad to the batch's largest fish: prob and target (B, C+1, N), xyz (B, N, 3), stimulus
    (B, C+1, K), mask (B, N) True for real neurons. Padding is zero and masked everywhere."""
    B, N = len(items), max(it["prob"].shape[1] for it in items)
    prob, xyz = torch.zeros(B, items[0]["prob"].shape[0], N), torch.zeros(B, N, 3)
    target = torch.zeros_like(prob)
    mask = torch.zeros(B, N, dtype=torch.bool)
    for b, it in enumerate(items):
        n = it["prob"].shape[1]
        prob[b, :, :n], target[b, :, :n], xyz[b, :n], mask[b, :n] = it["prob"], it["target"], it["xyz"], True
    stimulus = torch.stack([it["stimulus"] for it in items])
    return {
        "prob": prob,
        "target": target,
        "xyz": xyz,
        "stimulus": stimulus,
        "mask": mask,
        "fish": torch.tensor([it["fish"] for it in items]),
        "start": torch.tensor([it["start"] for it in items]),
    }


def window(prob: torch.Tensor, stimulus: torch.Tensor, start: int, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What a forecaster reads (sbm.model.forecast) from a stretch of frames (prob (B, T, N),
    stimulus (B, T, K) of the same frames): the probabilities of frames start .. start + context - 1
    and the stimulus of frames start + 1 .. start + context, each step carrying the stimulus of the
    frame it forecasts (external, known when that frame is recorded). The one place of that rule."""
    return prob[:, start : start + context], stimulus[:, start + 1 : start + context + 1]


def model_inputs(batch: dict, context: int | None = None) -> tuple[tuple, torch.Tensor]:
    """(inputs of SBM.forward, training targets) of a batch of windows of C + 1 frames (or more,
    with `context` C): the window of frames 0..C-1, and as targets frames 1..C of `target` (step t
    forecasts frame t + 1)."""
    prob = batch["prob"]
    C = prob.shape[1] - 1 if context is None else context
    frames, stimulus = window(prob, batch["stimulus"], 0, C)
    return (frames, batch["xyz"], stimulus, batch["mask"]), batch["target"][:, 1 : C + 1]


def far_targets(batch: dict, context: int, horizons: tuple) -> torch.Tensor:
    """The targets of frames h .. h + C - 1 for each h of `horizons` (step t of the window of frames
    0..C-1 forecasting frame t + h), (B, C, N, A), of windows of at least C + max(horizons) frames."""
    return torch.stack([batch["target"][:, h : h + context] for h in horizons], dim=-1)


def epoch_batches(
    windows: Windows, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1, pool_blocks: int = 8
) -> list[list[int]]:
    """This rank's batches for one epoch: blocks in a shuffled order, windows shuffled within pools
    of `pool_blocks` blocks; the same on every rank (seeded by epoch), dealt out rank by rank, and
    cut to a whole number of global batches so every rank takes the same number of steps."""
    rng = np.random.default_rng([seed, epoch])
    blocks: dict = {}
    for i in range(len(windows)):
        blocks.setdefault(windows.block_of(i), []).append(i)
    keys = list(blocks)
    groups = [blocks[keys[k]] for k in rng.permutation(len(keys))]
    order = []
    for p in range(0, len(groups), pool_blocks):
        pool = np.concatenate(groups[p : p + pool_blocks])
        order.extend(rng.permutation(pool).tolist())
    n_batches = len(order) // (batch_size * world)
    if n_batches == 0:
        raise ValueError(f"{len(order)} windows do not fill one batch of {batch_size} on each of {world} processes")
    mine = order[: n_batches * batch_size * world][rank::world]
    return [mine[b * batch_size : (b + 1) * batch_size] for b in range(n_batches)]


def spaced_windows(windows: Windows, count: int) -> list[int]:
    """`count` windows spread evenly over all (deterministic): the validation set."""
    if count >= len(windows):
        return list(range(len(windows)))
    return np.linspace(0, len(windows) - 1, count).round().astype(int).tolist()
