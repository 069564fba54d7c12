"""The canonical larval-zebrafish brain that every simulated fish is sampled from.

One fixed anatomy and one population-level wiring diagram, shared by all fish, so that a model
trained on some fish can generalise to another: each fish then gets its own neurons, positions,
gains and a perturbed copy of the wiring (see sbm.synth.fish).

Coordinates are atlas micrometres: x rostro-caudal (0 = front of the telencephalon), y left-right
(negative = left), z ventro-dorsal. A bilateral region is written once and mirrored into _L/_R.

Stimulus features (what a visual scene means to the eyes), one row per stimulus code:
    lum_L, lum_R      luminance seen by the left / right eye (0 dark .. 1 bright)
    fwd, mot_L, mot_R whole-field motion forward / leftward / rightward (optomotor gratings)
    loom_L, loom_R    a looming blob on the left / right
    shock             a brief electric shock
"""

from dataclasses import dataclass

import numpy as np

FEATURES = ("lum_L", "lum_R", "fwd", "mot_L", "mot_R", "loom_L", "loom_R", "shock")

# Stimulus vocabulary: code -> (name, features), with the codes and names of Chen et al.'s
# standardised stimulus key (black_white = left half dark, right half bright).
STIMULI = {
    0: ("all_black", dict()),
    1: ("black_white", dict(lum_R=1.0)),
    2: ("white_black", dict(lum_L=1.0)),
    3: ("all_white", dict(lum_L=1.0, lum_R=1.0)),
    4: ("all_gray", dict(lum_L=0.5, lum_R=0.5)),
    10: ("grating_forward", dict(lum_L=0.5, lum_R=0.5, fwd=1.0)),
    11: ("grating_right", dict(lum_L=0.5, lum_R=0.5, mot_R=1.0)),
    12: ("grating_left", dict(lum_L=0.5, lum_R=0.5, mot_L=1.0)),
    14: ("blob_right", dict(lum_L=1.0, lum_R=1.0, loom_R=1.0)),
    15: ("blob_left", dict(lum_L=1.0, lum_R=1.0, loom_L=1.0)),
    16: ("shock", dict(lum_L=1.0, lum_R=1.0, shock=1.0)),
}

# Protocol blocks: (code, seconds) phases, repeated while the block lasts. Every fish sees the
# first three; looming and dark flashes only some fish (as in the real dataset, where protocols
# differ between fish and the stimulus vocabulary must be built across all of them).
BLOCKS = {
    "phototaxis": [(3, 10), (1, 15), (3, 10), (2, 15)],
    "optomotor": [(4, 8), (10, 10), (4, 8), (11, 10), (4, 8), (12, 10)],
    "spontaneous": [(4, 60)],
    "looming": [(3, 12), (14, 4), (3, 12), (15, 4)],
    "dark_flash": [(3, 20), (0, 5)],
    "shock": [(3, 25), (16, 1)],
}
CORE_BLOCKS = ("phototaxis", "optomotor", "spontaneous")

# Regions: name -> (centre x, |y|, z), radii (x, y, z), share of the neurons. |y| > 0 = bilateral.
REGIONS = {
    "telencephalon": ((80, 50, 120), (60, 42, 50), 0.08),
    "habenula": ((150, 35, 190), (22, 16, 16), 0.02),
    "pretectum": ((200, 70, 140), (35, 30, 35), 0.06),
    "tectum": ((285, 110, 170), (90, 70, 55), 0.28),
    "tegmentum": ((290, 0, 90), (60, 40, 40), 0.08),
    "cerebellum": ((400, 80, 170), (45, 60, 45), 0.10),
    "hindbrain_r1_3": ((455, 30, 100), (60, 25, 40), 0.10),
    "hindbrain_r4_7": ((565, 45, 90), (80, 40, 40), 0.18),
    "medulla": ((650, 0, 110), (40, 40, 40), 0.10),
}


@dataclass(frozen=True)
class Population:
    name: str
    region: str  # e.g. "tectum_L"
    share: float  # share of its region's neurons
    tuning: dict  # feature -> weight of the stimulus drive
    bias: float = -2.5  # resting input; sigmoid(-2.5) = 0.08 of the maximal rate
    tau_s: float = 0.6  # time constant of the population rate
    noise: float = 0.6  # std of its slow private (OU) input: spontaneous activity
    adapt: float = 0.0  # strength of slow adaptation (makes oscillators and transients)


def _side(s: str, mirror: bool) -> str:
    return {"L": "R", "R": "L"}[s] if mirror else s


def _populations() -> list[Population]:
    pops = []
    for side in ("L", "R"):
        other = _side(side, True)
        # Eyes project contralaterally: the left tectum sees the right visual field.
        pops += [
            Population(f"tectum_{side}_dark", f"tectum_{side}", 0.3, {f"lum_{other}": -3.0}, bias=0.0),
            Population(f"tectum_{side}_motion", f"tectum_{side}", 0.2, {f"mot_{other}": 3.0, "fwd": 1.5}),
            Population(f"tectum_{side}_loom", f"tectum_{side}", 0.15, {f"loom_{other}": 4.5}),
            Population(f"tectum_{side}_assembly", f"tectum_{side}", 0.35, {}, noise=1.2, tau_s=1.0),
            Population(f"pretectum_{side}_motion", f"pretectum_{side}", 0.6, {f"mot_{side}": 3.5, "fwd": 2.0}),
            Population(f"pretectum_{side}_lum", f"pretectum_{side}", 0.4, {f"lum_{side}": 2.5}),
            Population(f"telencephalon_{side}_slow", f"telencephalon_{side}", 1.0, {}, noise=1.0, tau_s=4.0),
            Population(
                f"habenula_{side}", f"habenula_{side}", 1.0, {f"lum_{side}": 1.5, f"lum_{other}": 1.5}, bias=-3.5
            ),
            Population(f"cerebellum_{side}", f"cerebellum_{side}", 1.0, {"shock": 3.0}, noise=0.5),
            Population(f"artr_{side}", f"hindbrain_r1_3_{side}", 1.0, {}, bias=-1.0, noise=0.8, tau_s=2.0, adapt=3.0),
            Population(
                f"rs_turn_{side}", f"hindbrain_r4_7_{side}", 0.45, {f"loom_{other}": 2.0, "shock": 2.0}, bias=-3.0
            ),
            Population(f"hb_forward_{side}", f"hindbrain_r4_7_{side}", 0.55, {}, bias=-3.0, noise=0.5),
        ]
    pops += [
        Population("nmlf_forward", "tegmentum", 0.5, {"fwd": 1.0}, bias=-3.0),
        Population("tegmentum_state", "tegmentum", 0.5, {}, noise=1.0, tau_s=6.0),
        Population("medulla_shock", "medulla", 0.3, {"shock": 6.0}, bias=-4.0),
        Population("medulla_slow", "medulla", 0.7, {}, noise=1.0, tau_s=8.0),
    ]
    return pops


# Population wiring: (source, target, weight, delay in seconds). "{s}"/"{o}" expand to the same
# and the opposite side, so each motif is written once. Positive = excitatory.
_EDGES = [
    ("tectum_{s}_dark", "pretectum_{o}_lum", -1.5, 0.10),
    ("pretectum_{s}_lum", "rs_turn_{s}", 2.5, 0.15),  # phototaxis: turn towards the light
    ("pretectum_{s}_motion", "rs_turn_{s}", 3.0, 0.15),  # optomotor: turn with the motion
    ("pretectum_{s}_motion", "nmlf_forward", 2.5, 0.15),
    ("tectum_{s}_motion", "pretectum_{o}_motion", 1.0, 0.10),
    ("tectum_{s}_loom", "rs_turn_{s}", 3.5, 0.10),  # escape away from the looming side
    ("tectum_{s}_assembly", "tectum_{s}_motion", 0.8, 0.10),
    ("tectum_{s}_assembly", "tectum_{o}_assembly", -1.0, 0.15),
    ("artr_{s}", "artr_{o}", -4.0, 0.15),  # left/right alternation (ARTR-like oscillator)
    ("artr_{s}", "rs_turn_{s}", 2.0, 0.15),
    ("nmlf_forward", "hb_forward_{s}", 4.0, 0.10),
    ("hb_forward_{s}", "cerebellum_{s}", 2.0, 0.15),  # efference copy
    ("rs_turn_{s}", "cerebellum_{o}", 2.0, 0.15),
    ("rs_turn_{s}", "rs_turn_{o}", -2.5, 0.10),
    ("telencephalon_{s}_slow", "habenula_{s}", 1.5, 0.30),
    ("habenula_{s}", "tegmentum_state", -1.5, 0.30),
    ("tegmentum_state", "hb_forward_{s}", 1.5, 0.20),
    ("medulla_shock", "rs_turn_{s}", 3.0, 0.10),
    ("medulla_slow", "artr_{s}", 1.0, 0.30),
    ("medulla_slow", "telencephalon_{s}_slow", 0.8, 0.40),
]

# Which populations drive which behaviour, and how (rows of Behavior_full 1-3).
MOTOR = {
    "left_turn": ("rs_turn_L",),
    "right_turn": ("rs_turn_R",),
    "forward_swim": ("hb_forward_L", "hb_forward_R"),
}


@dataclass(frozen=True)
class CanonicalBrain:
    populations: list[Population]
    region_names: list[str]
    region_centre: np.ndarray  # (R, 3) um
    region_radii: np.ndarray  # (R, 3) um
    region_share: np.ndarray  # (R,) share of all neurons
    weights: np.ndarray  # (P, P) target x source
    delays_s: np.ndarray  # (P, P) seconds, target x source
    tuning: np.ndarray  # (P, F) stimulus-feature drive
    stim_codes: np.ndarray  # (K,) codes of the vocabulary
    stim_features: np.ndarray  # (K, F)

    @property
    def n_populations(self) -> int:
        return len(self.populations)

    def pop_index(self, name: str) -> int:
        return [p.name for p in self.populations].index(name)


def canonical_brain() -> CanonicalBrain:
    """The one brain every fish is sampled from. Deterministic: it has no random parts."""
    names, centres, radii, shares = [], [], [], []
    for region, ((x, y, z), r, share) in REGIONS.items():
        sides = [("_L", -y), ("_R", y)] if y > 0 else [("", 0.0)]
        for suffix, yy in sides:
            names.append(region + suffix)
            centres.append((x, yy, z))
            radii.append(r)
            shares.append(share / len(sides))
    pops = _populations()
    index = {p.name: i for i, p in enumerate(pops)}
    P = len(pops)
    weights = np.zeros((P, P))
    delays = np.full((P, P), 0.1)
    for src, dst, w, d in _EDGES:
        for s in ("L", "R"):
            a = src.format(s=s, o=_side(s, True))
            b = dst.format(s=s, o=_side(s, True))
            weights[index[b], index[a]] = w
            delays[index[b], index[a]] = d
    tuning = np.array([[p.tuning.get(f, 0.0) for f in FEATURES] for p in pops])
    codes = np.array(sorted(STIMULI))
    feats = np.array([[STIMULI[c][1].get(f, 0.0) for f in FEATURES] for c in codes])
    for p in pops:
        if p.region not in names:
            raise AssertionError(f"population {p.name} sits in unknown region {p.region}")
    return CanonicalBrain(
        populations=pops,
        region_names=names,
        region_centre=np.array(centres, float),
        region_radii=np.array(radii, float),
        region_share=np.array(shares, float),
        weights=weights,
        delays_s=delays,
        tuning=tuning,
        stim_codes=codes,
        stim_features=feats,
    )
