"""The simulator's truth of a simulated fish, matched to the neurons of its probs file.

The probs files hold *inferred* spike probabilities: a forecaster scored against them is scored
against a noisy estimate, whose noise swamps the differences between good forecasters. The
simulator knows each imaged neuron's expected spikes per frame, lambda, hence the true probability
of a spike, 1 - exp(-lambda): the only target that knows the answer. Every forecaster is also
scored against it, per neuron and per population (the mean over the population's imaged neurons):
`TruthErrors` sums the errors of one fish, `summarise_truth` the MAEs over the held-out fish.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np
import torch

from sbm.io.chen import chen_folder
from sbm.io.contracts import GROUND_TRUTH, PROBS, open_checked
from sbm.io.errors import InputError
from sbm.model.forecast import abs_error


@dataclass
class SimulatedTruth:
    """One fish's truth, neuron n being neuron n of its probs file."""

    prob: np.ndarray  # (T, N) true probability of a spike in each frame, 1 - exp(-lambda)
    population: np.ndarray  # (N,) each neuron's (primary) population
    wiring: np.ndarray  # (P, P) population-level connectivity, target x source
    names: list  # the P population names
    columns: np.ndarray  # (N,) each neuron's column in ground_truth.h5 (the simulator's order)

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
    return SimulatedTruth(prob, population, wiring, names, columns)


def use_truth(probs_path, truth_path, inputs: str, targets: str) -> None:
    """The known-answer ladder on a simulated fish's probs file (in place): what forecasters read
    (`inputs`, the file's `prob`) and are trained on (`targets`, its `target` where the two differ),
    each `inferred` (as the spike inference gave it) or `truth` (the simulator's true probability
    of a spike). With inputs and targets inferred the file is left as it is."""
    for name, value in (("inputs", inputs), ("targets", targets)):
        if value not in ("inferred", "truth"):
            raise ValueError(f"probabilities.{name} {value!r}: inferred or truth")
    if inputs == targets == "inferred":
        return
    true_prob = read_truth(probs_path, truth_path).prob
    with h5py.File(probs_path, "r+") as f:
        inferred = f["prob"][()]
        values = {"inferred": inferred, "truth": true_prob}
        f["prob"][...] = values[inputs]
        if inputs != targets:
            f.create_dataset("target", data=values[targets], chunks=f["prob"].chunks)
            f["target"].attrs["meaning"] = f"what forecasters are trained on: the {targets} probability of a spike"
        f.attrs.update(inputs=inputs, targets=targets)
        if inputs == "truth":
            f["prob"].attrs["meaning"] = "the simulator's true probability of a spike, 1 - exp(-lambda) (the ladder)"


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


class TruthErrors:
    """Sums of absolute errors against the simulator's truth: per neuron, and per population (the
    mean over a population's neurons of forecast and of truth)."""

    def __init__(self, truth: SimulatedTruth):
        self.truth, self.neuron, self.population, self.values, self.groups = truth, {}, {}, 0, 0
        self.pop = torch.from_numpy(truth.population)
        self.present = torch.bincount(self.pop, minlength=truth.n_populations) > 0

    def target(self, frames) -> torch.Tensor:
        """(B, N) the true probabilities of the given frames."""
        return torch.from_numpy(self.truth.prob[np.asarray(frames)])

    def add(self, name: str, forecast: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> None:
        """forecast and truth (B, ..., N) of one fish (mask (B, N) all real)."""
        self.neuron[name] = self.neuron.get(name, 0.0) + abs_error(forecast, truth, mask).sum(dim=0).double().numpy()
        means = [
            population_means(x, self.pop, self.truth.n_populations)[0][..., self.present] for x in (forecast, truth)
        ]
        self.population[name] = self.population.get(name, 0.0) + (means[0] - means[1]).abs().sum(dim=(0, -1)).numpy()

    def count(self, windows: int, neurons: int) -> None:
        self.values += windows * neurons
        self.groups += windows * int(self.present.sum())

    def result(self) -> dict:
        return {
            "abs_error_sums": {k: v.tolist() for k, v in self.neuron.items()},
            "population_abs_error_sums": {k: v.tolist() for k, v in self.population.items()},
            "values": self.values,
            "population_values": self.groups,
        }


def summarise_truth(per_fish: list[dict]) -> dict:
    """The MAEs against the simulator's truth over the held-out fish (per neuron and per population;
    each value weighted equally; a list per horizon step where the sums are per step) and where
    each forecaster sits between the per-neuron ridge (the floor, 0) and a ceiling (1): the
    ceiling fitted to the truth (floor_to_ceiling), and the one fitted to the inferred probabilities
    (floor_to_reachable), the best that a forecaster trained on inferred probabilities can expect:
    the ceiling fitted to the truth also escapes the spike inference's miscalibration."""

    def mae(key: str, values: str) -> dict:
        total = sum(f[values] for f in per_fish)
        return {name: (np.sum([f[key][name] for f in per_fish], axis=0) / total).tolist() for name in per_fish[0][key]}

    neuron, population = mae("abs_error_sums", "values"), mae("population_abs_error_sums", "population_values")
    result = {"mae": neuron, "mae_population": population}
    for key, top in (("floor_to_ceiling", "ceiling"), ("floor_to_reachable", "ceiling_inferred_targets")):
        result[key] = None
        if top in neuron and "ridge" in neuron:
            floor, ceiling = np.asarray(neuron["ridge"]), np.asarray(neuron[top])
            result[key] = {name: ((floor - np.asarray(v)) / (floor - ceiling)).tolist() for name, v in neuron.items()}
    return result
