"""The simulated fish: a spiking population network sampled from the canonical brain, imaged like
a light-sheet recording and written in the exact Chen et al. 2018 layout.

Per fish (deterministic for a given seed and subject):
  * neurons placed in the canonical regions (with this fish's own pose for CellXYZ and a small
    registration error for CellXYZ_norm), each a member of one population (some mixed with a
    second one), with its own baseline rate and gain;
  * population rates driven by the stimulus, by slow private noise (spontaneous activity), by
    slow adaptation and by the *sampled spikes* of the other populations through the (per-fish
    perturbed) canonical wiring with delays;
  * Poisson spikes in sub-frame steps; nuclear-GCaMP6f-like calcium (rise ~0.2 s, decay ~1.2 s)
    with saturation; each neuron is sampled once per volume at the time its plane is imaged;
  * shot and read noise set per neuron from a target CASCADE noise level, baseline drift and
    bleaching; behaviour (left/right turns, forward swims, two raw channels) from motor populations.

Everything is streamed to disk in chunks of frames, so memory stays bounded at any size.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from sbm.io.atomic import atomic_path
from sbm.io.chen import BEHAVIOR_NAMES, DATA_FULL, TIMESERIES, WRAPPED_FRAMES, ZBRAIN_VOXEL_UM, write_mat_fields
from sbm.settings import from_dict
from sbm.synth.brain import BLOCKS, CORE_BLOCKS, FEATURES, MOTOR, STIMULI, CanonicalBrain, canonical_brain

log = logging.getLogger(__name__)
GROUND_TRUTH = "ground_truth.h5"
BEHAVIOR_DRIVE = ("left_turn", "right_turn", "forward_swim")  # the motor drive's columns
Perturb = Callable[[np.ndarray], np.ndarray]  # expected spikes of one substep (N,) -> perturbed


@dataclass
class SimConfig:
    """Settings of the simulated dataset; the `synthetic` section of the workflow config."""

    n_neurons: int = 2000  # cells in CellResp (absIX); the full cell list is ~10% larger
    n_frames: int = 1500  # frames in the raw file, including the 2 wrapped ones
    fps_range: tuple = (1.9, 2.3)  # each fish's volume rate is drawn from this range (Hz)
    seed: int = 0  # with the subject number, fixes everything about a fish
    substeps: int = 4  # simulation steps per frame (spikes, calcium, plane timing)
    n_planes: int = 30  # light-sheet planes: a neuron is sampled when its plane is imaged
    noise_level_median: float = 3.0  # median target CASCADE noise level (% per sqrt(Hz))
    noise_level_spread: float = 0.35  # std of log noise level across neurons
    wiring_jitter: float = 0.15  # per-fish relative perturbation of the canonical wiring
    # Every connection of the canonical wiring times this: a known-answer experiment's knob (can a
    # forecaster learn the wiring when the populations drive each other harder?); 1 is the default.
    wiring_gain: float = 1.0
    mat_format: str = "v5"  # data_full.mat as MATLAB v5 ("v5") or HDF5-based v7.3 ("v7.3")
    raw_voxel_size_um: tuple = (0.4, 0.4, 5.0)  # voxel of the fish's own (unregistered) CellXYZ
    chunk_frames: int = 128  # frames simulated and written at a time (bounds memory)

    @classmethod
    def from_dict(cls, d: dict) -> "SimConfig":
        return from_dict(cls, d, "simulator")


def subject_number(subject: str) -> int:
    m = re.fullmatch(r"subject_(\d+)", subject)
    if not m:
        raise ValueError(f"subject names look like 'subject_3', got {subject!r}")
    return int(m.group(1))


# ---------------------------------------------------------------------------------------------
# Sampling one fish


@dataclass
class Fish:
    fps: float
    n_all: int  # cells in the full list (CellXYZ)
    abs_ix: np.ndarray  # (N,) 1-based ids of the imaged cells
    xyz_atlas: np.ndarray  # (n_all, 3) atlas um
    xyz_raw: np.ndarray  # (n_all, 3) this fish's own frame, um
    invalid: np.ndarray  # 1-based ids flagged invalid
    pop: np.ndarray  # (N,) primary population
    pop2: np.ndarray  # (N,) secondary population (mixed selectivity)
    w2: np.ndarray  # (N,) weight of the secondary population (0 for most neurons)
    base_hz: np.ndarray  # (N,)
    gain_hz: np.ndarray  # (N,)
    sample_step: np.ndarray  # (N,) substep at which each neuron's plane is imaged
    tau_rise: np.ndarray  # (N,) s
    tau_decay: np.ndarray  # (N,) s
    dff_max: np.ndarray  # (N,) saturating DF/F
    kd: np.ndarray  # (N,) half-saturation, in spike units
    f0: np.ndarray  # (N,) resting fluorescence (a.u.)
    noise_sd: np.ndarray  # (N,) total noise std at rest, as a fraction of F0
    weights: np.ndarray  # (P, P) this fish's wiring
    bias: np.ndarray  # (P,)
    tau: np.ndarray  # (P,)


def _sample_in_ellipsoids(centre, radii, rng):
    u = rng.normal(size=centre.shape)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = rng.random(len(centre))[:, None] ** (1 / 3)
    return centre + u * r * radii


def sample_fish(brain: CanonicalBrain, cfg: SimConfig, rng: np.random.Generator) -> Fish:
    N = cfg.n_neurons
    n_all = int(round(N / 0.9))
    fps = float(rng.uniform(*cfg.fps_range))
    # Anatomy: regions with per-fish shares, positions inside each region's ellipsoid.
    share = brain.region_share * rng.lognormal(0, 0.1, len(brain.region_share))
    region = rng.choice(len(share), size=n_all, p=share / share.sum())
    xyz_atlas = _sample_in_ellipsoids(brain.region_centre[region], brain.region_radii[region], rng)
    # The fish's own pose: small rotation about z, scale and shift; CellXYZ_norm is the atlas
    # position seen through a registration error of a few micrometres.
    a = rng.normal(0, np.deg2rad(4))
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    xyz_raw = (xyz_atlas - xyz_atlas.mean(0)) @ rot.T * rng.uniform(0.95, 1.05) + [400, 300, 150]
    xyz_reg = xyz_atlas + rng.normal(0, 2.0, xyz_atlas.shape)
    # Imaged cells (absIX) are a subset of the full list; some are flagged invalid.
    abs_ix = np.sort(rng.choice(n_all, size=N, replace=False)) + 1
    invalid = np.sort(rng.choice(n_all, size=max(1, n_all // 70), replace=False)) + 1
    nan_cells = rng.choice(abs_ix, size=max(1, N // 1000), replace=False)
    xyz_reg[nan_cells - 1] = np.nan
    xyz_raw[nan_cells - 1] = np.nan

    # Population membership within each region.
    pops = brain.populations
    reg_of_cell = region[abs_ix - 1]
    pop = np.empty(N, np.int64)
    for r, name in enumerate(brain.region_names):
        members = np.flatnonzero(reg_of_cell == r)
        cand = [i for i, p in enumerate(pops) if p.region == name]
        w = np.array([pops[i].share for i in cand])
        pop[members] = rng.choice(cand, size=len(members), p=w / w.sum())
    mixed = rng.random(N) < 0.2
    pop2 = rng.integers(0, len(pops), N)
    w2 = np.where(mixed, rng.uniform(0.3, 0.7, N), 0.0)

    # The per-fish wiring: the canonical one with relative jitter on existing connections.
    weights = cfg.wiring_gain * brain.weights * (1 + cfg.wiring_jitter * rng.normal(size=brain.weights.shape))
    bias = np.array([p.bias for p in pops]) + rng.normal(0, 0.2, len(pops))
    tau = np.array([p.tau_s for p in pops]) * rng.lognormal(0, 0.1, len(pops))

    # Light-sheet timing: planes along the fish's own z; plane k is imaged at k/n_planes of a frame.
    z = xyz_raw[abs_ix - 1, 2]
    z = np.where(np.isnan(z), np.nanmedian(z), z)  # a cell without a known position is still imaged
    plane = np.clip(((z - z.min()) / (np.ptp(z) + 1e-9) * cfg.n_planes).astype(int), 0, cfg.n_planes - 1)
    sample_step = (plane * cfg.substeps) // cfg.n_planes

    noise_level = cfg.noise_level_median * rng.lognormal(0, cfg.noise_level_spread, N)
    # For white noise of std s (fraction of F0): nu = 100 * median|diff| / sqrt(fps) = 95.4 s / sqrt(fps).
    noise_sd = noise_level * np.sqrt(fps) / (100 * 0.6745 * np.sqrt(2))
    return Fish(
        fps=fps,
        n_all=n_all,
        abs_ix=abs_ix,
        xyz_atlas=xyz_reg,
        xyz_raw=xyz_raw,
        invalid=invalid,
        pop=pop,
        pop2=pop2,
        w2=w2,
        base_hz=rng.lognormal(np.log(0.1), 0.5, N),
        gain_hz=rng.lognormal(np.log(3.0), 0.4, N),
        sample_step=sample_step,
        tau_rise=rng.lognormal(np.log(0.2), 0.2, N),
        tau_decay=rng.lognormal(np.log(1.2), 0.2, N),
        dff_max=rng.lognormal(np.log(1.5), 0.3, N),
        kd=rng.lognormal(np.log(8.0), 0.2, N),
        f0=rng.lognormal(np.log(300.0), 0.4, N),
        noise_sd=noise_sd,
        weights=weights,
        bias=bias,
        tau=tau,
    )


def sample_protocol(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Per-frame stimulus codes: the core blocks plus a random subset of the others, shuffled."""
    extra = [b for b in BLOCKS if b not in CORE_BLOCKS]
    chosen = list(CORE_BLOCKS) + [b for b in extra if rng.random() < 0.5]
    codes = []
    while len(codes) < n_frames:
        for b in rng.permutation(chosen):
            for _ in range(2):  # each block runs two cycles
                for code, seconds in BLOCKS[b]:
                    codes += [code] * max(1, int(round(seconds * fps * rng.uniform(0.8, 1.2))))
    return np.array(codes[:n_frames], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Dynamics


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class CoupledStreams:
    """Separate random streams for the population noise, the neurons' private noise and the spikes,
    each drawn in the same amounts whatever the rates: two copies of a network given copies of the
    same streams (a replay's unperturbed and perturbed arms) draw the same noise, so that their
    difference is the perturbation's effect, not two independent noise realisations. (One stream
    and numpy's Poisson sampler, whose draws per value depend on the rate, part the arms at the
    first changed rate.)"""

    noise: np.random.Generator
    private: np.random.Generator
    spikes: np.random.Generator

    @classmethod
    def seeded(cls, seed) -> "CoupledStreams":
        return cls(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)))


def poisson_quantile(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) counts by inversion of one uniform u each: the smallest k with CDF(k) >= u.
    Monotone in lam for a fixed u, so a raised rate adds spikes to the same draw."""
    term = np.exp(-lam).astype(np.float64)
    cdf, k = term.copy(), np.zeros(lam.shape, np.int64)
    below = u > cdf
    n = 0
    while below.any():
        n += 1
        term = term * lam / n
        cdf = cdf + term
        k += below
        below &= u > cdf
    return k


class Network:
    """Population rates driven by spikes, stimulus, noise and adaptation; neurons spike Poisson."""

    TAU_NOISE = 3.0  # s, slow private input of each population
    TAU_ADAPT = 8.0  # s
    TAU_PRIVATE = 2.0  # s, slow multiplicative noise of each neuron
    SIGMA_PRIVATE = 0.3

    def __init__(self, brain: CanonicalBrain, fish: Fish, substeps: int, rng: np.random.Generator):
        self.rng, self.fish, self.brain = rng, fish, brain
        self.coupled = None  # CoupledStreams: a replay's arms draw the same noise (couple())
        self.dt = 1.0 / (fish.fps * substeps)
        P = brain.n_populations
        self.delay = np.maximum(1, np.round(brain.delays_s / self.dt)).astype(int)  # (P, P) steps
        self.hist = np.zeros((self.delay.max() + 1, P))  # ring buffer of population activity
        self.step = 0
        self.r = _sigmoid(fish.bias)
        self.noise = np.zeros(P)
        self.adapt = np.zeros(P)
        self.adapt_gain = np.array([p.adapt for p in brain.populations])
        self.noise_sd = np.array([p.noise for p in brain.populations])
        self.drive = brain.tuning @ brain.stim_features.T  # (P, K) input per stimulus code
        self.code_index = {c: k for k, c in enumerate(brain.stim_codes)}
        # Population activity from spikes: spikes / (dt * summed gain) estimates the rate r.
        gain_sum = np.bincount(fish.pop, weights=fish.gain_hz, minlength=P)
        self.gain_sum = np.where(gain_sum > 0, gain_sum, np.nan)
        self.private = np.zeros(len(fish.pop), np.float32)
        N = len(fish.pop)
        self.y_rise = np.zeros(N, np.float32)
        self.y_decay = np.zeros(N, np.float32)
        self.k_rise = np.exp(-self.dt / fish.tau_rise).astype(np.float32)
        self.k_decay = np.exp(-self.dt / fish.tau_decay).astype(np.float32)
        # Scale so that one spike peaks at 1 (difference of exponentials).
        tr, td = fish.tau_rise, fish.tau_decay
        t_peak = np.log(td / tr) * td * tr / (td - tr)
        self.c_norm = (1.0 / (np.exp(-t_peak / td) - np.exp(-t_peak / tr))).astype(np.float32)
        self.base = fish.base_hz.astype(np.float32)
        self.gain = fish.gain_hz.astype(np.float32)
        self.w2 = fish.w2.astype(np.float32)
        self.at_step = [np.flatnonzero(fish.sample_step == s) for s in range(substeps)]  # imaged per substep
        self.motor = [[brain.pop_index(p) for p in MOTOR[b]] for b in BEHAVIOR_DRIVE]

    def substep(self, code: int, perturb: Perturb | None = None):
        """Advance one substep; returns (spike counts (N,), expected spikes (N,), calcium (N,)).
        `perturb` changes the neurons' expected spikes before they are drawn (an optogenetic
        experiment): what they fire then drives the other populations through the wiring."""
        f, dt, P = self.fish, self.dt, self.brain.n_populations
        delayed = self.hist[(self.step - self.delay) % len(self.hist), np.arange(P)[None, :]]  # (P, P)
        inp = f.bias + (f.weights * delayed).sum(1) + self.drive[:, self.code_index[code]] + self.noise - self.adapt
        self.r += dt / f.tau * (_sigmoid(inp) - self.r)
        self.adapt += dt / self.TAU_ADAPT * (self.adapt_gain * self.r - self.adapt)
        a = np.exp(-dt / self.TAU_NOISE)
        streams = self.coupled or CoupledStreams(self.rng, self.rng, self.rng)
        self.noise = a * self.noise + self.noise_sd * np.sqrt(1 - a * a) * streams.noise.normal(size=P)

        r = self.r.astype(np.float32)
        b = np.float32(np.exp(-dt / self.TAU_PRIVATE))
        self.private *= b
        self.private += np.float32(self.SIGMA_PRIVATE * np.sqrt(1 - b * b)) * streams.private.standard_normal(
            len(self.private), dtype=np.float32
        )
        rate = (self.base + self.gain * (r[f.pop] + self.w2 * r[f.pop2])) * np.exp(
            self.private - np.float32(self.SIGMA_PRIVATE**2 / 2)
        )
        expected = rate * np.float32(dt)
        if perturb is not None:
            expected = perturb(expected)
        if self.coupled is None:
            spikes = self.rng.poisson(expected)
        else:  # one uniform per neuron, whatever its rate: both arms stay on the same draws
            spikes = poisson_quantile(self.coupled.spikes.random(len(expected), dtype=np.float32), expected)

        # Population activity that the wiring sees is measured from the spikes themselves.
        active = np.bincount(f.pop, weights=spikes, minlength=P) / (dt * self.gain_sum)
        self.hist[self.step % len(self.hist)] = np.where(np.isnan(active), self.r, active)
        self.step += 1

        s = spikes.astype(np.float32)
        self.y_rise = self.y_rise * self.k_rise + s
        self.y_decay = self.y_decay * self.k_decay + s
        calcium = (self.y_decay - self.y_rise) * self.c_norm
        return spikes, expected, calcium

    def frame(self, code: int, perturb: Perturb | None = None) -> dict:
        """Advance one frame (all its substeps): spike counts, expected spikes and calcium as
        imaged (each neuron sampled at its plane's substep), (N,) each; the motor drive (3,) and
        the population rates (P,), averaged over the frame."""
        S = len(self.at_step)
        out = {"counts": 0, "expected": 0, "calcium": np.empty(len(self.fish.pop), np.float32)}
        out["drive"], out["population_rate"] = np.zeros(3), np.zeros(self.brain.n_populations, np.float32)
        for s in range(S):
            sp, ex, c = self.substep(code, perturb)
            out["counts"] = out["counts"] + sp
            out["expected"] = out["expected"] + ex
            out["calcium"][self.at_step[s]] = c[self.at_step[s]]
            out["drive"] += [self.r[m].mean() / S for m in self.motor]
            out["population_rate"] += self.r / S
        return out


def behaviour_from_drive(drive: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Behavior_full rows (5, T) from motor drive (T, 3): sparse bouts whose odds and vigour grow
    with the drive, plus two noisy raw channels mixing turns and forward swims."""
    p_bout = _sigmoid(12 * (drive - 0.45))
    bout = rng.random(drive.shape) < p_bout
    vigour = rng.gamma(2.0, 0.5, drive.shape) * drive
    events = np.where(bout, vigour, 0.0)
    left, right, fwd = events.T
    raw_left = 0.6 * left + 0.4 * fwd + 0.02 * np.abs(rng.normal(size=len(left)))
    raw_right = 0.6 * right + 0.4 * fwd + 0.02 * np.abs(rng.normal(size=len(left)))
    return np.stack([left, right, fwd, raw_left, raw_right])


# ---------------------------------------------------------------------------------------------
# The whole fish, streamed to disk


@dataclass
class Start:
    """A fish at its first frame: its network, stimulus protocol, and the other random streams."""

    net: Network
    codes: np.ndarray  # (n_frames,) stimulus code of every frame
    rng: np.random.Generator  # anatomy and protocol (drawn), then bleaching
    rng_img: np.random.Generator  # imaging noise and drift
    rng_beh: np.random.Generator  # behaviour bouts


def start_fish(cfg: SimConfig, subject: str) -> Start:
    """The fish `subject` of `cfg` before its first frame: the same draws every time it is asked for."""
    # Independent streams, so that the chunk size never changes what is drawn where.
    seeds = np.random.SeedSequence([cfg.seed, subject_number(subject)]).spawn(4)
    rng, rng_net, rng_img, rng_beh = (np.random.default_rng(s) for s in seeds)
    brain = canonical_brain()
    fish = sample_fish(brain, cfg, rng)
    codes = sample_protocol(cfg.n_frames, fish.fps, rng)
    return Start(Network(brain, fish, cfg.substeps, rng_net), codes, rng, rng_img, rng_beh)


def simulate_fish(cfg: SimConfig, subject: str, out_dir: str | Path, progress: bool = False) -> dict:
    """Simulate one fish and write TimeSeries.h5, data_full.mat and ground_truth.h5 to out_dir."""
    if cfg.n_frames <= WRAPPED_FRAMES + 1:
        raise ValueError(f"n_frames must exceed {WRAPPED_FRAMES + 1}, got {cfg.n_frames}")
    out_dir = Path(out_dir)
    start = start_fish(cfg, subject)
    net, codes, rng, rng_img, rng_beh = start.net, start.codes, start.rng, start.rng_img, start.rng_beh
    brain, fish = net.brain, net.fish
    T, N, T_kept = cfg.n_frames, cfg.n_neurons, cfg.n_frames - WRAPPED_FRAMES
    drift = np.zeros(N, np.float32)  # slow per-neuron baseline wander (OU, frame level)
    k_drift = np.float32(np.exp(-1 / (60.0 * fish.fps)))
    tau_bleach = rng.uniform(2000, 6000)  # s
    noise_shot = (fish.noise_sd * np.sqrt(0.7)).astype(np.float32)
    noise_read = (fish.noise_sd * np.sqrt(0.3)).astype(np.float32)
    drive = np.zeros((T, 3))
    pop_rate = np.zeros((T, brain.n_populations), np.float32)
    log.info("%s: %d neurons, %d frames at %.3f Hz, %d populations", subject, N, T, fish.fps, brain.n_populations)

    chunk = (min(T, 128), min(N, 2048))
    with atomic_path(out_dir / TIMESERIES) as ts_tmp, atomic_path(out_dir / GROUND_TRUTH) as gt_tmp:
        with h5py.File(ts_tmp, "w") as ts, h5py.File(gt_tmp, "w") as gt:
            resp = ts.create_dataset("CellResp", (T, N), np.float32, chunks=chunk)
            ts.create_dataset("absIX", data=fish.abs_ix.astype(np.float64)[:, None])
            gt_chunk = (min(T_kept, 128), min(N, 2048))
            gt_spikes = gt.create_dataset("spikes", (T_kept, N), np.uint8, chunks=gt_chunk, compression="lzf")
            gt_rate = gt.create_dataset("rate", (T_kept, N), np.float32, chunks=gt_chunk)
            for t0 in tqdm(range(0, T, cfg.chunk_frames), desc=subject, disable=not progress):
                n = min(cfg.chunk_frames, T - t0)
                ca = np.empty((n, N), np.float32)
                counts = np.zeros((n, N), np.int64)
                expected = np.zeros((n, N), np.float32)
                for i in range(n):
                    frame = net.frame(int(codes[t0 + i]))
                    counts[i], expected[i], ca[i] = frame["counts"], frame["expected"], frame["calcium"]
                    drive[t0 + i], pop_rate[t0 + i] = frame["drive"], frame["population_rate"]
                # Imaging: saturating indicator, drift and bleaching, shot and read noise.
                dff = fish.dff_max * ca / (ca + fish.kd)
                fluo = np.empty((n, N), np.float32)
                for i in range(n):
                    bleach = np.float32(np.exp(-(t0 + i) / fish.fps / tau_bleach))
                    drift = k_drift * drift + np.float32(0.03 * np.sqrt(1 - k_drift**2)) * rng_img.standard_normal(
                        N, dtype=np.float32
                    )
                    shot = noise_shot * np.sqrt(1 + dff[i]) * rng_img.standard_normal(N, dtype=np.float32)
                    read = noise_read * rng_img.standard_normal(N, dtype=np.float32)
                    fluo[i] = fish.f0 * bleach * (1 + drift) * (1 + dff[i] + shot) + fish.f0 * read
                # The published CellResp was circularly shifted by -2 frames: its last 2 frames
                # are copies of the first 2. Rows past T_kept are filled from rows 0-1 at the end.
                keep = max(0, min(n, T_kept - t0))
                resp[t0 : t0 + keep] = fluo[:keep]
                gt_spikes[t0 : t0 + keep] = np.minimum(counts[:keep], 255)
                gt_rate[t0 : t0 + keep] = expected[:keep]
            resp[T_kept:T] = resp[0 : T - T_kept]

            gt.create_dataset("cell_id", data=fish.abs_ix)
            gt.create_dataset("population", data=fish.pop)
            gt.create_dataset("population_secondary", data=fish.pop2)
            gt.create_dataset("secondary_weight", data=fish.w2)
            gt.create_dataset("connectivity", data=fish.weights)
            gt.create_dataset("delay_s", data=brain.delays_s)
            gt.create_dataset("population_rate", data=pop_rate[:T_kept])
            gt.create_dataset("behavior_drive", data=drive[:T_kept])
            gt.create_dataset("stimulus_code", data=codes[:T_kept])
            gt.create_dataset("stimulus_features", data=brain.stim_features)
            gt.create_dataset("noise_sd", data=fish.noise_sd)
            gt.attrs.update(
                subject=subject,
                fps=fish.fps,
                seed=cfg.seed,
                population_names=[p.name for p in brain.populations],
                stimulus_vocabulary=[f"{c}:{STIMULI[c][0]}" for c in brain.stim_codes],
                feature_names=list(FEATURES),
                behavior_drive_names=list(BEHAVIOR_DRIVE),
                rate_units="expected spikes per frame",
                connectivity_layout="target x source, population level",
                config=str(asdict(cfg)),
            )
            gt["rate"].attrs["units"] = "expected spikes per frame"
            gt["spikes"].attrs["units"] = "spikes per frame (clipped at 255)"
        behavior = behaviour_from_drive(drive, rng_beh)
        with atomic_path(out_dir / DATA_FULL) as mat_tmp:
            xyz_norm = fish.xyz_atlas / np.asarray(ZBRAIN_VOXEL_UM)
            # CellXYZ_norm in atlas voxels: make coordinates positive like a registered stack.
            xyz_norm = xyz_norm - np.nanmin(xyz_norm, axis=0) + 10
            write_mat_fields(
                mat_tmp,
                {
                    "CellXYZ": fish.xyz_raw / np.asarray(cfg.raw_voxel_size_um),
                    "CellXYZ_norm": xyz_norm,
                    "IX_inval_anat": fish.invalid.astype(float),
                    "fpsec": fish.fps,
                    "stim_full": codes.astype(float)[None, :],
                    "Behavior_full": behavior,
                    "numcell_full": float(fish.n_all),
                },
                cfg.mat_format,
            )
    return {"subject": subject, "fps": fish.fps, "n_neurons": N, "n_frames": T, "behavior_rows": list(BEHAVIOR_NAMES)}
