"""The simulator's truth of a simulated fish, matched to the neurons of its probs file.

The probs files hold *inferred* spike probabilities: a forecaster scored against them is scored
against a noisy estimate, whose noise swamps the differences between good forecasters. The
simulator knows each imaged neuron's expected spikes per frame, lambda, hence the true probability
of a spike, 1 - exp(-lambda): the only target that knows the answer. Every forecaster is also
scored against it, per neuron and per population (the mean over the population's imaged neurons).
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from sbm.io.chen import chen_folder
from sbm.io.contracts import GROUND_TRUTH, PROBS, open_checked
from sbm.io.errors import InputError


@dataclass
class SimulatedTruth:
    """One fish's truth, neuron n being neuron n of its probs file."""

    prob: np.ndarray  # (T, N) true probability of a spike in each frame, 1 - exp(-lambda)
    population: np.ndarray  # (N,) each neuron's (primary) population
    wiring: np.ndarray  # (P, P) population-level connectivity, target x source
    names: list  # the P population names

    @property
    def n_populations(self) -> int:
        return len(self.names)

    @cached_property
    def population_prob(self) -> np.ndarray:
        """(T, P) each population's mean true probability over its imaged neurons (0 where it has none)."""
        return population_means(torch.from_numpy(self.prob), torch.from_numpy(self.population), self.n_populations)[
            0
        ].numpy()


def read_truth(probs_path, truth_path, with_prob: bool = True) -> SimulatedTruth:
    """The truth of the fish in `truth_path` (raw/<subject>/ground_truth.h5) for the neurons of
    `probs_path`, matched through cell_id, frames aligned (both start at the first kept frame)."""
    with open_checked(probs_path, PROBS, require=("cell_id",)) as f:
        cell_id, n_frames = f["cell_id"][()], f["prob"].shape[0]
    with open_checked(truth_path, GROUND_TRUTH) as g:
        where = {int(c): i for i, c in enumerate(g["cell_id"][()])}
        missing = [int(c) for c in cell_id if int(c) not in where]
        if missing:
            raise InputError(
                truth_path,
                f"{len(missing)} neurons of {probs_path} (cell_id {missing[:3]} ...) are not in the ground truth",
            )
        columns = np.array([where[int(c)] for c in cell_id])
        population = g["population"][()][columns]
        wiring = g["connectivity"][()]
        names = [str(n) for n in g.attrs["population_names"]]
        prob = np.zeros((0, len(columns)), np.float32)
        if with_prob:
            if g["rate"].shape[0] != n_frames:
                raise InputError(truth_path, f"rate has {g['rate'].shape[0]} frames, {probs_path} has {n_frames}")
            rate = g["rate"][()]  # every column once, then the probs file's neurons in its order
            prob = -np.expm1(-rate[:, columns].astype(np.float64)).astype(np.float32)
    if wiring.shape != (len(names), len(names)) or population.max() >= len(names):
        raise InputError(truth_path, f"connectivity {wiring.shape} does not match {len(names)} populations")
    return SimulatedTruth(prob, population, wiring, names)


def truth_files(paths: list[Path], subjects: list[str]) -> list[Path]:
    """The truth files (raw/<subject>/ground_truth.h5) of `subjects`, in their order."""
    by_subject = {chen_folder(p).name: p for p in paths}
    missing = [s for s in subjects if s not in by_subject]
    if missing:
        raise InputError(paths[0] if paths else "--truth", f"no ground truth given for {missing}")
    return [by_subject[s] for s in subjects]


def population_means(values: torch.Tensor, population: torch.Tensor, n_populations: int):
    """(..., N) values -> ((..., P) mean over each population's neurons, (P,) neurons per population;
    0 for a population without neurons)."""
    count = torch.zeros(n_populations, dtype=torch.float64).index_add_(
        0, population, torch.ones(len(population), dtype=torch.float64)
    )
    sums = torch.zeros(*values.shape[:-1], n_populations, dtype=torch.float64).index_add_(
        -1, population, values.double()
    )
    return (sums / count.clamp(min=1)).to(values.dtype), count


def population_context(population_prob: np.ndarray, starts, length: int) -> torch.Tensor:
    """The populations' true probabilities for windows of `length` frames starting at `starts`,
    one frame late: row j of window s holds frame s + j - 1 (zeros for frame -1). Appended to the
    stimulus (whose row j is the stimulus of frame s + j, see sbm.data.windows.window), a forecast
    of frame t reads the truth of frames before t only: the oracle's input (sbm.model.baselines)."""
    P = population_prob.shape[1]
    padded = np.concatenate((np.zeros((1, P), population_prob.dtype), population_prob))
    return torch.from_numpy(np.stack([padded[int(s) : int(s) + length] for s in starts])).float()
