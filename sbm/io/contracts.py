"""The files the stages hand each other, declared once (config/README.md describes each field and
its units).

HDF5: a `Layout` per file (dff, rates, probs, the simulator's truth) or per fish group of the
evaluation's files (brain states, rollout example, behaviour predictions, search pattern). Readers
open a file through `open_checked` or `read_groups`, writers write groups through `write_groups`:
a file that is unreadable, lacks a dataset or attribute, or whose shapes disagree is refused with
the file and the problem.

JSON: a TypedDict per evaluation result, written by `write_result` and read by `read_result`
(the figures, the tests), both refusing a result whose keys are not the declared ones.
"""

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import h5py
import numpy as np

from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError


@dataclass(frozen=True)
class Layout:
    """An HDF5 file one stage writes and later stages read."""

    stage: str  # the rule that writes it, named in errors ("rerun the dff stage")
    # Dataset name -> its dimensions: names (T frames, N neurons, K stimulus columns, B behaviour
    # columns) must have the same size in every dataset that has them; numbers are fixed sizes.
    datasets: dict
    attrs: tuple = ()  # attributes that must be present
    optional: tuple = ()  # datasets that may be absent (their shape is checked when present)
    # Attributes that list one name per column of a dimension, e.g. stimulus_names over K.
    names: tuple = (("stimulus_names", "K"), ("behavior_names", "B"))


DFF = Layout(
    "dff",
    {
        "dff": ("T", "N"),
        "noise_level": ("N",),
        "xyz": ("N", 3),
        "cell_id": ("N",),
        "stimulus": ("T", "K"),
        "stimulus_code": ("T",),
        "behavior": ("T", "B"),
    },
    attrs=("subject", "fps", "stimulus_names"),
    optional=("behavior", "stimulus_code"),  # stimulus codes: the Chen layout's; other sources have none
)
# What the spike model measured per neuron (sbm/spikes/sparse.py): its noise sd of the innovation
# and threshold (DF/F), the mean p of a frame holding only that noise, its own decay; each model
# writes those it has.
NEURON_PARAMETERS = ("noise_sd", "threshold", "silent_p", "decay")
RATES = Layout(
    "spikes",
    {"rate": ("T", "N"), "noise_level": ("N",), "band": ("N",), "cell_id": ("N",)}
    | {name: ("N",) for name in NEURON_PARAMETERS},
    # floor: P(spike) of a frame whose DF/F sits still, the model's base rate
    attrs=("subject", "fps", "method", "model_id", "lookahead", "floor"),
    optional=("band", *NEURON_PARAMETERS),  # the band: only a model with noise bands (the network)
)
# What every model stage reads: the probabilities, positions and stimulus. The spike-inference
# fields (rate, noise level, cell ids) and behaviour are checked where present.
PROBS = Layout(
    "probabilities",
    {
        "prob": ("T", "N"),
        "xyz": ("N", 3),
        "stimulus": ("T", "K"),
        "rate": ("T", "N"),
        "noise_level": ("N",),
        "cell_id": ("N",),
        "behavior": ("T", "B"),
    }
    | {name: ("N",) for name in NEURON_PARAMETERS},
    attrs=("subject", "fps", "stimulus_names"),
    optional=("rate", "noise_level", "cell_id", "behavior", *NEURON_PARAMETERS),
)
# Attributes of the dff file that the probs file keeps, by the start of their names: which neurons
# were dropped on the way and why (dropped_*), and how a recording's reader made the fish from its
# file (recording_*: the series read, the neuropil coefficient, the ROIs kept, the positions).
CARRIED_ATTRS = ("dropped_", "recording_")
# The simulator's truth beside each simulated fish (raw/<subject>/ground_truth.h5): T frames, N
# imaged cells, P populations.
GROUND_TRUTH = Layout(
    "simulate",
    {
        "spikes": ("T", "N"),
        "rate": ("T", "N"),
        "cell_id": ("N",),
        "population": ("N",),
        "connectivity": ("P", "P"),
        "population_rate": ("T", "P"),
    },
    attrs=("fps", "population_names"),
    names=(("population_names", "P"),),
)


# The evaluation's HDF5 files hold one group per held-out fish, named by subject.
NEXT_STEP_STATES = Layout(  # the observed frame and every forecaster's forecast of it (one dataset each, (W, N))
    "evaluate_next_step", {"frame": ("W",), "observed": ("W", "N"), "sbm": ("W", "N")}
)
ROLLOUT_EXAMPLE = Layout(  # one rollout: the observed context and future (S = C + H frames), the SBM's H forecasts
    "evaluate_rollout",
    {"observed": ("S", "N"), "sbm": ("H", "N"), "xyz": ("N", 3), "stimulus": ("S", "K")},
    attrs=("first_frame", "context", "fps", "stimulus_names"),
)
INSILICO_RESPONSES = Layout(  # per fish, E experiments: the SBM's (and the true) response per neuron and frame
    "insilico",
    {
        "xyz": ("N", 3),
        "group": ("N",),
        "response_sbm": ("E", "H", "N"),
        "behavior_sbm": ("E", "D", "H"),
        "response_truth": ("E", "H", "N"),
        "drive_truth": ("E", 3, "H"),
    },
    attrs=("fps", "context", "experiments", "group_names", "start", "duration", "behavior_names"),
    optional=("response_truth", "drive_truth"),  # simulated fish only
    names=(("experiments", "E"), ("behavior_names", "D")),
)
BEHAVIOR_PREDICTIONS = Layout(  # per evaluated frame, the observed behaviour and every readout's (each (T, D))
    "evaluate_behavior",
    {"frame": ("T",), "observed": ("T", "D"), "pnm_observed_states": ("T", "D"), "pnm_sbm_states": ("T", "D")},
)
SEARCH_PATTERN = Layout(  # the optimised pattern whose behaviour moved furthest, and the real state it started from
    "search_patterns",
    {
        "pattern": ("F", "N"),
        "start": ("F", "N"),
        "xyz_um": ("N", 3),
        "target": (2,),
        "started": (2,),
        "reached": (2,),
        "behavior": ("D",),
    },
    attrs=("index", "frame"),
)


def check(f: h5py.Group, path, layout: Layout, require: tuple = ()) -> dict:
    """Check an open file (or a group of one) against `layout` (and the optional datasets in
    `require`); return the size of each named dimension."""
    needed = [name for name in layout.datasets if name not in layout.optional or name in require]
    missing = [name for name in needed if name not in f]
    if missing:
        raise InputError(path, f"missing dataset(s) {missing}: rerun the {layout.stage} stage")
    absent = [name for name in layout.attrs if name not in f.attrs]
    if absent:
        raise InputError(path, f"missing attribute(s) {absent}: rerun the {layout.stage} stage")
    sizes, first = {}, {}
    for name, dims in layout.datasets.items():
        if name not in f:
            continue
        shape = f[name].shape
        if len(shape) != len(dims):
            raise InputError(path, f"{name} has shape {shape}, expected {len(dims)} dimensions {dims}")
        for dim, size in zip(dims, shape):
            if isinstance(dim, int):
                if size != dim:
                    raise InputError(path, f"{name} has shape {shape}, expected {dims}")
            elif size == 0 and dim in ("T", "N"):
                raise InputError(path, f"empty fish: {name} has shape {shape}")
            elif sizes.setdefault(dim, size) != size:
                raise InputError(path, f"{name} has shape {shape} but {first[dim]} has {sizes[dim]} along {dim}")
            else:
                first.setdefault(dim, name)
    for attr, dim in layout.names:
        if attr in f.attrs and dim in sizes and len(f.attrs[attr]) != sizes[dim]:
            raise InputError(path, f"{len(f.attrs[attr])} {attr} for {sizes[dim]} columns of {first[dim]}")
    return sizes


@contextmanager
def open_checked(path, layout: Layout, require: tuple = (), subject: str | None = None):
    """Open an HDF5 file for reading and check it against `layout` and, if given, that it holds the
    fish `subject` (a job given another fish's file)."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"cannot be read as HDF5 ({err}): rerun the {layout.stage} stage") from err
    with f:
        check(f, path, layout, require)
        if subject is not None and str(f.attrs["subject"]) != subject:
            raise InputError(path, f"holds fish {f.attrs['subject']}, not {subject}")
        yield f


def write_groups(path, groups: dict[str, dict], layout: Layout) -> None:
    """One HDF5 group per key (a fish): its arrays as datasets (2-D ones compressed), everything
    else (numbers, strings, lists of strings) as attributes; each group checked against `layout`
    before the file (written atomically) appears."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, items in groups.items():
            group = f.create_group(name)
            for key, value in items.items():
                if isinstance(value, np.ndarray):
                    group.create_dataset(key, data=value, compression="gzip" if value.ndim == 2 else None)
                else:
                    group.attrs[key] = value
            check(group, f"{path}:{name}", layout)


def read_groups(path, layout: Layout) -> dict[str, dict]:
    """Every group of a file `write_groups` wrote, checked: subject -> its datasets and attributes."""
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"cannot be read as HDF5 ({err}): rerun the {layout.stage} stage") from err
    with f:
        if not len(f):
            raise InputError(path, "holds no fish")
        out = {}
        for name, group in f.items():
            check(group, f"{path}:{name}", layout)
            out[name] = {**{k: group[k][()] for k in group}, **dict(group.attrs)}
        return out


def first_group(path, layout: Layout) -> dict:
    """The first fish's group of such a file (the figures draw the first held-out fish)."""
    return next(iter(read_groups(path, layout).values()))


# --- the evaluation's JSON results (all on the held-out fish; MAE in units of spike probability) ---
class NextStep(TypedDict):
    heldout: list  # the held-out subjects
    stride: int  # frames between evaluated windows
    context: int  # frames each forecast reads
    mae: dict  # forecaster -> MAE of the next frame's spike probability
    sbm_over_baseline: dict  # baseline -> the SBM's MAE over the baseline's
    per_subject: dict  # subject -> forecaster -> MAE
    mae_by_context: dict  # frames_seen (1..context) and, per forecaster, the MAE from that many frames
    windows: int
    values: int  # neurons x windows scored
    mean_activity: dict  # subject -> frame, observed and SBM mean spike probability over neurons
    ece: dict  # forecaster -> expected calibration error
    calibration: dict  # forecaster -> reliability bins (count, mean_predicted, mean_observed)
    baseline_fits: dict | None  # the fitted forecasters' info
    # Simulated fish: against the simulator's probability of a spike (truth), forecaster -> MAE per
    # neuron (mae) and of the population means (mae_population), and floor_to_ceiling: (ridge's MAE
    # - the forecaster's) / (ridge's - the ceiling's), 0 at the per-neuron floor, 1 at the ceiling;
    # floor_to_reachable the same with the ceiling fitted to the inferred probabilities.
    truth: dict | None


class Rollout(TypedDict):
    heldout: list
    context: int
    horizon: list  # 1..H
    mae: dict  # forecaster -> MAE per horizon step
    growth_exponent: dict  # forecaster -> b of MAE ~ a h^b
    mean_activity: dict  # observed and forecaster -> mean spike probability per horizon step
    starts: int  # rollouts in all
    per_subject: dict
    truth: dict | None  # simulated fish: as NextStep's, a list per horizon step


class Adapt(TypedDict):
    heldout: list
    minutes: list  # k: minutes of each held-out fish tuned on (0: zero-shot), those every fish kept
    # forecaster -> per k, the mean over held-out fish of the next-step MAE / of the rollout MAE
    # averaged over its horizon, on each fish's frames after its largest k. "ridge" and "mlp" are
    # the per-neuron forecasters: at k = 0 fitted on the training fish, else on the k minutes.
    next_step_mae: dict
    rollout_mae: dict
    tune_s: list  # per k, the mean wall time of the SBM's fine-tune (s)
    config: dict  # the `sbm.adapt` settings
    per_subject: list  # per fish: by_minutes (scores, best fine-tuning step, wall times), what was dropped


class Insilico(TypedDict):
    heldout: list
    targets: str  # populations (the simulator's) or regions (k-means of each fish's positions)
    config: dict  # the `insilico` settings
    forecasters: list  # the SBM and every forecaster rolled out beside it (lag1: the groups' lag-1 model)
    # Simulated fish: per forecaster, over every experiment, the response-map r and responder AUROC
    # (mean, 95 % bootstrap range over experiments, count) and the responders' sign agreement; None
    # for real fish (no truth).
    scores: dict | None
    behavior: (
        dict | None
    )  # simulated fish with PNMs: per behaviour, SBM-predicted against the simulator truth's changes
    behavior_names: list  # what the PNMs read, in the order of each experiment's behaviour list
    experiments: list  # per experiment: subject, target, kind, neurons, maps, scores, behaviour


class Fidelity(TypedDict):
    metrics: dict  # forecaster -> energy_distance, classifier_accuracy (0.5: indistinguishable)
    per_subject: dict
    components: int  # principal components of the observed states the metrics use
    note: str


class Connectome(TypedDict):
    auroc: dict  # attention, lag1_correlation -> AUROC against the true wiring
    chance: float
    windows: int
    per_subject: dict  # matrices target x source, population level
    layout: str


class Behavior(TypedDict):
    heldout: list
    behaviors: list
    r: dict  # readout_source -> behaviour -> Pearson r
    mean_r: dict  # readout_source -> mean r over behaviours
    chance_r95: dict  # behaviour -> 95 % of |r| of the shifted prediction
    sbm_state_mae: float  # the SBM-forecast states' MAE against the observed ones
    per_subject: dict
    baseline_fits: dict
    pnm_training: dict


class Search(TypedDict):
    behaviors: list
    config: dict
    space: dict  # the behaviour PCA plane and its grid
    coverage: dict  # set -> share of grid cells reached
    hull_area: dict  # set -> convex hull area in the plane
    distance_to_target: dict
    per_subject: dict


def write_result(path, result: dict, kind: type) -> None:
    """Write one evaluation result as JSON (atomically), refused unless its keys are `kind`'s."""
    _check_keys(path, result, kind)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def read_result(path, kind: type) -> dict:
    """One evaluation result, refused unless it is JSON with `kind`'s keys."""
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"cannot be read as JSON: {err}") from err
    _check_keys(path, result, kind)
    return result


def _check_keys(path, result, kind: type) -> None:
    if not isinstance(result, dict) or set(result) != set(kind.__annotations__):
        got = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise InputError(path, f"not a {kind.__name__} result: keys {got}, expected {sorted(kind.__annotations__)}")
