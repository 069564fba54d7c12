"""Neural-pattern search: which brain states drive the PNMs to behaviours across behaviour space.

Behaviour space is the plane of the first two principal components of the training fish's true
behaviour (scaled to [0, 1] per fish). A G x G grid over that plane (its bounds: the range of
the training behaviour) gives the targets, one per cell centre, and the coverage measure: the
share of grid cells that a set of behaviours reaches, beside the area of its convex hull.

A pattern is F frames of spike probabilities for every neuron of one fish, parameterised as
sigmoid(logits) so it stays in [0, 1], started from a real brain state of that fish and moved by
Adam to bring the PNMs' behaviour (one PNM per dimension, projected on the plane) to its target.
The loss reads the PNMs' linear readouts, so that its gradient does not vanish where a readout
leaves [0, 1], and a penalty keeps them inside that range; the behaviour reached is then measured
clipped to [0, 1], as everywhere else. An optional L1 term keeps the pattern sparse. Optionally
the pattern is played into the SBM, which rolls out `rollout` frames, and the PNMs read the last
F frames of the rollout: the behaviour the pattern would drive in the model brain rather than the
one it shows at once. All patterns of a fish are optimised together, one batch.

The baseline, random stimulation with the same budget and activity statistics: each optimised
pattern with its neurons shuffled (one permutation for all its frames), so it has the same values,
the same total activity and the same distribution, placed at random in the brain.
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError
from sklearn.decomposition import PCA

from sbm.data.behavior import BehaviorFish
from sbm.io.errors import InputError
from sbm.model.forecast import rollout, sbm_forecaster
from sbm.model.pnm import PNM
from sbm.model.sbm import SBM
from sbm.settings import from_dict


@dataclass
class SearchConfig:
    """The config's `pnm.search` section."""

    grid: int = 6  # G: a G x G grid over the behaviour plane; one target per cell (G^2 patterns)
    steps: int = 200  # Adam steps
    lr: float = 0.1  # on the logits
    sparsity: float = 0.0  # weight of the mean activity of the pattern in the loss (L1: sparse patterns)
    through_sbm: bool = False  # read the behaviour after an SBM rollout from the pattern
    rollout: int = 4  # frames the SBM rolls out when through_sbm
    seed: int = 0  # the random baseline's permutations

    @classmethod
    def from_dict(cls, d: dict) -> "SearchConfig":
        return from_dict(cls, d, "pnm.search")


class BehaviorSpace:
    """The behaviour PCA plane and a grid over it."""

    def __init__(self, behavior: np.ndarray, grid: int):
        self.pca = PCA(n_components=2, random_state=0).fit(behavior)
        coords = self.pca.transform(behavior)
        self.lo, self.hi, self.grid = coords.min(axis=0), coords.max(axis=0), grid

    def project(self, behavior: np.ndarray) -> np.ndarray:
        return self.pca.transform(behavior)

    def project_torch(self, behavior: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.pca.mean_, dtype=behavior.dtype)
        return (behavior - mean) @ torch.as_tensor(self.pca.components_.T, dtype=behavior.dtype)

    def cell_centres(self) -> np.ndarray:
        """(G^2, 2) the centres of the grid cells, row by row."""
        edges = [np.linspace(lo, hi, self.grid + 1) for lo, hi in zip(self.lo, self.hi)]
        centres = [(e[:-1] + e[1:]) / 2 for e in edges]
        return np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1).reshape(-1, 2)

    def coverage(self, coords: np.ndarray) -> float:
        """Share of the grid's cells holding at least one point (points off the grid reach none)."""
        cells = np.floor((coords - self.lo) / (self.hi - self.lo) * self.grid).astype(int)
        cells[np.isclose(coords, self.hi)] = self.grid - 1  # the upper edge belongs to the last cell
        inside = np.all((cells >= 0) & (cells < self.grid), axis=1)
        return len({tuple(c) for c in cells[inside]}) / self.grid**2

    def state(self) -> dict:
        return {
            "mean": self.pca.mean_.tolist(),
            "components": self.pca.components_.tolist(),
            "explained_variance_ratio": self.pca.explained_variance_ratio_.tolist(),
            "lo": self.lo.tolist(),
            "hi": self.hi.tolist(),
            "grid": self.grid,
        }


def hull_area(coords: np.ndarray) -> float:
    """Area of the convex hull of 2-D points (0 for fewer than 3 or collinear points)."""
    if len(coords) < 3:
        return 0.0
    try:
        return float(ConvexHull(coords).volume)  # in 2-D, "volume" is the area
    except QhullError:
        return 0.0


def behaviors(
    pnms: list[PNM], prob: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor, clip: bool = True, batch_size: int = 64
) -> torch.Tensor:
    """(M, D) every PNM's behaviour for M patterns (M, F, N) of one fish (xyz (N, 3), mask (N,));
    clip=False gives the linear readouts (the search's gradients must not vanish at 0 and 1)."""
    out = []
    for i in range(0, len(prob), batch_size):
        p = prob[i : i + batch_size]
        B = len(p)
        out.append(torch.stack([pnm(p, xyz.expand(B, -1, -1), mask.expand(B, -1)) for pnm in pnms], dim=1))
    readout = torch.cat(out)
    return readout.clamp(0, 1) if clip else readout


def search_patterns(
    pnms: list[PNM],
    space: BehaviorSpace,
    start: torch.Tensor,
    xyz: torch.Tensor,
    mask: torch.Tensor,
    targets: np.ndarray,
    cfg: SearchConfig,
    sbm: SBM | None = None,
    context: torch.Tensor | None = None,
    stimulus: torch.Tensor | None = None,
) -> dict:
    """Optimise one pattern (F, N) per target (M, 2) from real states `start` (M, F, N).
    With `sbm`, `context` (M, C - F, N) true frames precede the pattern and `stimulus`
    (M, C + rollout, K) covers the window and the rollout. Returns the patterns and the loss per step."""
    n_frames = start.shape[1]  # F
    for model in pnms + ([sbm] if sbm is not None else []):
        model.eval().requires_grad_(False)
    logits = torch.logit(start.clamp(1e-3, 1 - 1e-3)).clone().requires_grad_(True)
    goal = torch.as_tensor(targets, dtype=torch.float32)
    opt = torch.optim.Adam([logits], lr=cfg.lr)

    def read_out(pattern, clip=True):
        if sbm is None:
            return behaviors(pnms, pattern, xyz, mask, clip)
        frames = torch.cat((context, pattern), dim=1)
        M = len(frames)
        future = rollout(
            sbm_forecaster(sbm), frames, xyz.expand(M, -1, -1), stimulus, mask.expand(M, -1), cfg.rollout, grad=True
        )
        return behaviors(pnms, torch.cat((frames, future), dim=1)[:, -n_frames:], xyz, mask, clip)

    history = []
    for _ in range(cfg.steps + 1):
        pattern = torch.sigmoid(logits)
        readout = read_out(pattern, clip=False)
        distance = ((space.project_torch(readout) - goal) ** 2).sum(dim=1).mean()
        outside = (torch.relu(-readout) + torch.relu(readout - 1)).pow(2).sum(dim=1).mean()  # behaviour lives in [0, 1]
        loss = distance + outside + cfg.sparsity * pattern.mean()
        history.append({"loss": loss.item(), "distance": distance.item()})
        if len(history) > cfg.steps:  # the loss of the final patterns is recorded, not stepped on
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"patterns": torch.sigmoid(logits).detach(), "history": history, "read_out": read_out}


def shuffled_neurons(patterns: torch.Tensor, mask: torch.Tensor, seed: int) -> torch.Tensor:
    """Each pattern (F, N) with its real neurons permuted (one permutation for all its frames)."""
    g = torch.Generator().manual_seed(seed)
    real = torch.nonzero(mask).squeeze(1)
    out = patterns.clone()
    for m in range(len(patterns)):
        out[m][:, real] = patterns[m][:, real[torch.randperm(len(real), generator=g)]]
    return out


def search_fish(
    pnms: list[PNM], space: BehaviorSpace, fish: BehaviorFish, cfg: SearchConfig, sbm: SBM | None = None
) -> dict:
    """One pattern per grid cell of behaviour space for one fish, started from G^2 evenly spaced
    real brain states; the behaviour reached by real, random and optimised patterns, with the
    coverage and hull area of each beside those of the fish's observed behaviour at the same frames."""
    n_frames, M, T = pnms[0].cfg.frames, cfg.grid**2, len(fish.prob)  # F, M, T
    C = sbm.cfg.context if sbm is not None else n_frames
    ahead = cfg.rollout if sbm is not None else 0
    if T < C + ahead + M:
        raise InputError(fish.path, f"{T} frames are too few for {M} search starts (lower pnm.search.grid)")
    ends = np.linspace(C - 1, T - 1 - ahead, M).round().astype(int)  # the last frame of each start state

    def frames(first, last):  # (M, last - first, N): frames t + first .. t + last - 1 of each start
        return torch.from_numpy(np.stack([fish.prob[t + first : t + last] for t in ends]).astype(np.float32))

    start, xyz = frames(1 - n_frames, 1), torch.from_numpy(fish.xyz)
    mask = torch.ones(len(fish.xyz), dtype=torch.bool)
    extra = {}
    if sbm is not None:
        extra = {
            "sbm": sbm,
            "context": frames(1 - C, 1 - n_frames),
            "stimulus": torch.from_numpy(np.stack([fish.stimulus[t + 1 - C : t + 1 + ahead] for t in ends])),
        }
    targets = space.cell_centres()
    found = search_patterns(pnms, space, start, xyz, mask, targets, cfg, **extra)
    patterns = found["patterns"]
    with torch.no_grad():
        reached = {
            "real": found["read_out"](start),
            "optimised": found["read_out"](patterns),
            "random": found["read_out"](shuffled_neurons(patterns, mask, cfg.seed)),
        }
    coords = {"observed": space.project(fish.target[ends]), **{k: space.project(v.numpy()) for k, v in reached.items()}}
    moved = np.linalg.norm(coords["optimised"] - coords["real"], axis=1)
    shown = int(np.argmax(moved))  # the pattern that moved its behaviour furthest
    return {
        "subject": fish.subject,
        "frames": ends.tolist(),
        "targets": targets,
        "coords": coords,
        "coverage": {k: space.coverage(c) for k, c in coords.items()},
        "hull_area": {k: hull_area(c) for k, c in coords.items()},
        "distance_to_target": {k: float(np.sqrt(((c - targets) ** 2).sum(axis=1)).mean()) for k, c in coords.items()},
        "objective": {
            "start": found["history"][0]["loss"],
            "end": found["history"][-1]["loss"],
            "every_10_steps": [h["loss"] for h in found["history"][::10]],
        },
        "pattern_mean": {k: float(v.mean()) for k, v in (("real", start), ("optimised", patterns))},
        "shown": {
            "index": shown,
            "frame": int(ends[shown]),
            "pattern": patterns[shown].numpy(),
            "start": start[shown].numpy(),
            "target": targets[shown],
            "reached": coords["optimised"][shown],
            "started": coords["real"][shown],
            "behavior": reached["optimised"][shown].numpy(),
        },
    }
