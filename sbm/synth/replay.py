"""Replaying a simulated fish from any frame, with or without an optogenetic perturbation: the
true outcome of an in-silico experiment (sbm.eval.insilico).

The simulator is deterministic for its config and subject, so a fish's network can be run again
from its first frame to any frame of the recording, copied there, and run on twice from the same
state and the same random streams: once unperturbed, once with the perturbation acting on the
target neurons' expected spikes. The difference of the two runs is the true response. The two arms
draw coupled noise (sbm.synth.fish.CoupledStreams: the same population and private noise, spikes
from the same uniforms), so the response is the perturbation's effect and little else; what noise
it keeps (a spike that one arm fires and the other does not) is averaged over `replicas` pairs of
fresh streams.
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sbm.io.chen import WRAPPED_FRAMES
from sbm.synth.fish import CoupledStreams, Network, Perturb, SimConfig, start_fish, subject_number


class SimulatorPerturbation(Protocol):
    """What a replay asks of a perturbation (sbm.eval.insilico.Perturbation implements it)."""

    def active(self, step: int) -> bool: ...  # whether step k of a replay (frame start + k) is perturbed
    def on_expected(self, substeps: int) -> Perturb: ...  # the change of one substep's expected spikes


def expected_spikes(cfg: SimConfig, subject: str, n_frames: int) -> np.ndarray:
    """(n_frames, N) expected spikes per frame of the fish's first frames, replayed without a
    perturbation: ground_truth.h5's `rate`, bit for bit."""
    start = start_fish(cfg, subject)
    return np.stack([start.net.frame(int(start.codes[t]))["expected"] for t in range(n_frames)])


@dataclass
class Responses:
    """The true responses of a panel of perturbations, averaged over replicas."""

    prob: np.ndarray  # (targets, starts, horizon, N) perturbed minus unperturbed P(spike) = 1 - exp(-lambda)
    drive: np.ndarray  # (targets, starts, horizon, 3) the same for the motor drive (BEHAVIOR_DRIVE)


def _run(net: Network, codes: np.ndarray, first: int, horizon: int, perturbation=None) -> tuple:
    """`horizon` frames from `first` on a copy of `net`: expected spikes and motor drive."""
    net = copy.deepcopy(net)
    expected, drive = [], []
    for k in range(horizon):
        perturb = None
        if perturbation is not None and perturbation.active(k):
            perturb = perturbation.on_expected(len(net.at_step))
        frame = net.frame(int(codes[first + k]), perturb)
        expected.append(frame["expected"])
        drive.append(frame["drive"])
    return np.stack(expected).astype(np.float64), np.stack(drive)


def replay_responses(
    cfg: SimConfig,
    subject: str,
    frames: Sequence[int],
    perturbations: Sequence[SimulatorPerturbation],
    horizon: int,
    replicas: int = 1,
) -> Responses:
    """Each perturbation's true response from each start frame f (its step k acts on frame f + k,
    frames counted as in ground_truth.h5 and the probs files), over `horizon` frames."""
    n_kept = cfg.n_frames - WRAPPED_FRAMES
    if min(frames) < 0 or max(frames) + horizon > n_kept:
        raise ValueError(f"start frames {min(frames)}..{max(frames)} + horizon {horizon} leave the {n_kept} frames")
    start = start_fish(cfg, subject)
    net, codes = start.net, start.codes
    N = len(net.fish.pop)
    prob = np.zeros((len(perturbations), len(frames), horizon, N), np.float32)
    drive = np.zeros((len(perturbations), len(frames), horizon, 3))
    t = 0
    for s in np.argsort(frames, kind="stable"):
        while t < frames[s]:  # the fish as it was, up to this start
            net.frame(int(codes[t]))
            t += 1
        for r in range(replicas):
            state = copy.deepcopy(net)  # fresh coupled streams for this replica, copied into both arms
            state.coupled = CoupledStreams.seeded([cfg.seed, subject_number(subject), int(frames[s]), r])
            lam0, drive0 = _run(state, codes, t, horizon)
            for i, perturbation in enumerate(perturbations):
                lam1, drive1 = _run(state, codes, t, horizon, perturbation)
                prob[i, s] += (np.exp(-lam0) - np.exp(-lam1)) / replicas
                drive[i, s] += (drive1 - drive0) / replicas
    return Responses(prob, drive)
