"""Fish in the Chen et al. 2018 layout (the real download, or the simulator's) as Recordings, to be
written as table or NWB files: how CI drives the table and NWB paths with the simulated fish, and a
worked example for users converting their own data.

Two exports:
  * neuron level: the raw fluorescence of every kept neuron, positions in micrometres, the stimulus
    one-hot over the dataset's vocabulary (the columns the Chen path gives it), the behaviour.
  * region level (simulated fish only): neurons grouped into regions shared by every fish (k-means
    of the pooled registered positions), each region's activity the mean over its neurons of the
    simulator's true probability of a spike, kind `activity`: what region-averaged data looks like.
"""

import h5py
import numpy as np
from sklearn.cluster import KMeans

from sbm.io.chen import ChenFish
from sbm.io.errors import InputError
from sbm.io.recording import Recording
from sbm.spikes.dff import one_hot


def chen_recording(fish: ChenFish, vocabulary: dict) -> Recording:
    """Every kept neuron of a Chen-layout fish, as the Chen path reads it (kind fluorescence)."""
    return Recording(
        source=fish.folder,
        subject=fish.subject,
        kind="fluorescence",
        fps=fish.fps,
        activity=fish.read_block(0, fish.n_neurons),
        xyz_um=fish.xyz_um,
        cell_id=fish.cell_id,
        stimulus=one_hot(fish.stim_code, vocabulary["codes"], fish.folder / "data_full.mat"),
        stimulus_names=tuple(vocabulary["names"]),
        behavior=fish.behavior,
        behavior_names=tuple(fish.behavior_names),
        behavior_problem=fish.behavior_problem,
    )


def fit_regions(positions: list[np.ndarray], n_regions: int, seed: int = 0) -> KMeans:
    """Regions shared by every fish: k-means of their pooled positions (micrometres, registered)."""
    pooled = np.concatenate(positions).astype(float)
    if len(pooled) < n_regions:
        raise ValueError(f"{len(pooled)} neurons in all cannot make {n_regions} regions")
    return KMeans(n_clusters=n_regions, n_init=4, random_state=seed).fit(pooled)


def region_recording(neurons: Recording, truth_path, regions: KMeans) -> Recording:
    """A region-level recording of a simulated fish: per region (with at least one neuron in this
    fish), the mean true probability of a spike of its neurons, at their mean position."""
    with h5py.File(truth_path, "r") as g:
        ids, rate = g["cell_id"][()], g["rate"][()]
    where = {c: i for i, c in enumerate(ids.tolist())}
    missing = [c for c in neurons.cell_id.tolist() if c not in where]
    if missing or len(rate) != neurons.n_frames:
        raise InputError(truth_path, f"does not cover {neurons.subject}'s neurons and frames (rerun the simulator)")
    prob = -np.expm1(-rate[:, [where[c] for c in neurons.cell_id.tolist()]])
    label = regions.predict(neurons.xyz_um.astype(float))
    present = np.unique(label)
    activity = np.stack([prob[:, label == r].mean(1) for r in present], 1).astype(np.float32)
    xyz = np.stack([neurons.xyz_um[label == r].mean(0) for r in present]).astype(np.float32)
    return Recording(
        source=neurons.source,
        subject=neurons.subject,
        kind="activity",
        fps=neurons.fps,
        activity=activity,
        xyz_um=xyz,
        cell_id=present + 1,  # region numbers, the same region in every fish
        stimulus=neurons.stimulus,
        stimulus_names=neurons.stimulus_names,
        behavior=neurons.behavior,
        behavior_names=neurons.behavior_names,
        behavior_problem=neurons.behavior_problem,
    )
