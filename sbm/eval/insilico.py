"""In-silico optogenetics: perturb chosen neurons during a rollout and read how the model brain
responds; on simulated fish, score that against the simulator's replay of the same experiment.

A perturbation acts on what the model reads, the spike probabilities p. From forecast step `start`
for `duration` frames, the target neurons' frames are changed as they join the rollout's window
(so the forecaster reads them, and what it forecasts from them carries the effect on):

    excite  p -> p + strength (1 - p)        an extra, independent chance `strength` of a spike
    silence p -> 0
    clamp   p -> strength

The simulator gets the same experiment on the targets' firing (sbm.synth.replay), through one
mapping for every target: with lambda the expected spikes per frame and p = 1 - exp(-lambda),

    excite  lambda -> lambda - ln(1 - strength)   (exactly the p above)
    silence lambda -> 0
    clamp   lambda -> -ln(1 - strength)

spread evenly over the frame's substeps; the spikes then drawn drive the other populations through
the wiring. A response is the perturbed minus the unperturbed rollout (or replay), per neuron and
frame, from the same starting frames. A response map is its mean over the perturbed frames per
group of neurons (populations on simulated fish, regions otherwise), over the neurons that were
not targets: what the perturbation did to the rest of the brain.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from sbm.data.windows import Windows, collate, open_probs, spaced_windows
from sbm.eval.connectome import auroc
from sbm.eval.truth import SimulatedTruth
from sbm.io.contracts import GROUND_TRUTH, open_checked
from sbm.io.errors import InputError
from sbm.io.export import fit_regions
from sbm.model.forecast import Edit, Forecaster, rollout, sbm_forecaster
from sbm.model.sbm import SBM
from sbm.settings import from_dict
from sbm.synth.fish import SimConfig
from sbm.synth.replay import Responses, expected_spikes, replay_responses

KINDS = ("excite", "silence", "clamp")


@dataclass
class InsilicoConfig:
    """The config's `insilico` section: the panel of experiments run on every held-out fish."""

    kinds: tuple = ("excite", "silence")  # what is done to each target (KINDS)
    strength: float = 0.3  # excite: the added chance of a spike per frame; clamp: the held P(spike)
    start: int = 2  # the first perturbed forecast step (the steps before it must not change)
    duration: int = 6  # perturbed frames (3 s at 2 Hz); the response maps average over them
    horizon: int = 10  # frames rolled out from each start (at least start + duration)
    starts: int = 4  # rollout starts per held-out fish, evenly spaced over it
    targets: str = "auto"  # populations (the simulator's), regions (k-means), auto: populations where known
    regions: int = 16  # regions per fish when the targets are regions
    threshold: float = 0.01  # a group responds when |its true mean response| exceeds this (P(spike))
    replicas: int = 2  # simulator replays per start, averaged (the true response's own noise)

    def __post_init__(self):
        self.kinds = tuple(self.kinds)
        if not self.kinds or any(k not in KINDS for k in self.kinds):
            raise ValueError(f"insilico.kinds {list(self.kinds)}: some of {KINDS}")
        if self.horizon < self.start + self.duration:
            raise ValueError(f"insilico.horizon {self.horizon} is shorter than start + duration")
        if self.targets not in ("auto", "populations", "regions"):
            raise ValueError(f"insilico.targets {self.targets!r}: auto, populations or regions")

    @classmethod
    def from_dict(cls, d: dict) -> "InsilicoConfig":
        return from_dict(cls, d, "insilico")


@dataclass(frozen=True)
class Perturbation:
    """One experiment: which neurons, what is done to them, when."""

    name: str  # the target's name, e.g. a population "artr_L" or a region "region_03"
    targets: np.ndarray  # (n,) indices of the target neurons in the fish's probs file
    kind: str  # excite, silence or clamp
    strength: float = 0.0  # excite: the added chance of a spike; clamp: the held P(spike); silence: unused
    start: int = 0  # the first perturbed forecast step (0: the first frame forecast)
    duration: int = 1  # perturbed frames

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"perturbation kind {self.kind!r}: one of {KINDS}")
        if not 0 <= self.strength < 1:
            raise ValueError(f"perturbation strength {self.strength}: a probability in [0, 1)")
        if self.start < 0 or self.duration < 1:
            raise ValueError(f"perturbation start {self.start} and duration {self.duration}: start >= 0, duration >= 1")
        if len(self.targets) == 0:
            raise ValueError(f"perturbation of {self.name!r} has no target neurons")

    def active(self, step: int) -> bool:
        return self.start <= step < self.start + self.duration

    def apply(self, prob: torch.Tensor) -> torch.Tensor:
        """(..., N) frames -> a copy with the targets perturbed."""
        out, t = prob.clone(), torch.as_tensor(self.targets, dtype=torch.long)
        if self.kind == "excite":
            out[..., t] = out[..., t] + self.strength * (1 - out[..., t])  # = 1 - (1 - p)(1 - strength)
        else:
            out[..., t] = 0.0 if self.kind == "silence" else self.strength
        return out

    def edit(self, context: int, first_step: int = 0) -> Edit:
        """The rollout's edit, for a rollout whose first forecast is step `first_step`: the window
        read at its step h holds steps first_step + h - context .. first_step + h - 1 (steps
        before 0 are the true starting frames, never perturbed)."""

        def edit(h: int, window: torch.Tensor) -> torch.Tensor:
            cols = [j for j in range(context) if self.active(first_step + h - context + j)]
            if not cols:
                return window
            window = window.clone()
            window[:, cols] = self.apply(window[:, cols])
            return window

        return edit

    def observed(self, forecast: torch.Tensor) -> torch.Tensor:
        """(B, H, N) a rollout's forecasts -> what the brain shows: the targets perturbed where active."""
        steps = [k for k in range(forecast.shape[1]) if self.active(k)]
        out = forecast.clone()
        out[:, steps] = self.apply(forecast[:, steps])
        return out

    def on_expected(self, substeps: int):
        """The simulator's side: one substep's expected spikes (N,) -> perturbed (see the module)."""
        t = np.asarray(self.targets)
        per_substep = np.float32(-np.log1p(-self.strength) / substeps)

        def perturb(expected: np.ndarray) -> np.ndarray:
            out = expected.copy()
            if self.kind == "excite":
                out[t] += per_substep
            else:
                out[t] = 0.0 if self.kind == "silence" else per_substep
            return out

        return perturb


def predicted_response(
    forecast: Forecaster, batch: dict, context: int, p: Perturbation, base: torch.Tensor
) -> torch.Tensor:
    """(B, H, N) the perturbed minus the unperturbed rollout `base` (B, H, N) of one forecaster from
    the batch's starts (one rollout code, sbm.model.forecast.rollout). Forecasts up to step
    `p.start` read no perturbed frame, so they are the base's: the perturbed rollout resumes
    after them, from the last `context` frames of the start and the base."""
    prob, xyz, stimulus, mask = batch["prob"], batch["xyz"], batch["stimulus"], batch["mask"]
    H, k = base.shape[1], min(p.start + 1, base.shape[1])  # k: forecasts shared with the base
    frames = torch.cat((prob[:, :context], base[:, :k]), dim=1)[:, -context:]
    resumed = rollout(forecast, frames, xyz, stimulus[:, k : k + context + H - k], mask, H - k, edit=p.edit(context, k))
    return p.observed(torch.cat((base[:, :k], resumed), dim=1)) - base


def group_map(response: np.ndarray, groups: np.ndarray, n_groups: int, p: Perturbation) -> np.ndarray:
    """(H, N) a response (mean over starts) -> (G,) its mean over p's perturbed frames per group,
    over the neurons that were not targets (NaN for a group without such neurons)."""
    steps = [k for k in range(response.shape[0]) if p.active(k)]
    mean = response[steps].mean(axis=0)
    keep = np.ones(len(groups), bool)
    keep[p.targets] = False
    sums = np.bincount(groups[keep], mean[keep], minlength=n_groups)
    counts = np.bincount(groups[keep], minlength=n_groups)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def score_map(predicted: np.ndarray, true: np.ndarray, threshold: float) -> dict:
    """How one predicted response map matches the true one: Pearson r over the groups (None when
    either map is flat: no response predicted), the AUROC of telling responders (|true| >
    threshold) from the others by |predicted| (ties half: a flat map scores 0.5), and the share of
    responders whose sign is right (None for a map of zeros: no sign predicted)."""
    ok = np.isfinite(predicted) & np.isfinite(true)
    pred, truth = predicted[ok], true[ok]
    r = None
    if pred.std() > 0 and truth.std() > 0:
        r = float(np.corrcoef(pred, truth)[0, 1])
    responders = np.abs(truth) > threshold
    both = 0 < responders.sum() < len(responders)
    return {
        "r": r,
        "auroc": auroc(np.abs(pred), responders) if both else None,
        "sign_agreement": float(np.mean(np.sign(pred[responders]) == np.sign(truth[responders])))
        if responders.any() and np.any(pred != 0)
        else None,
        "responders": int(responders.sum()),
    }


def mean_with_range(values: list, draws: int = 2000, seed: int = 0) -> dict:
    """The mean of the defined values and its 95 % bootstrap range over them (resampling targets)."""
    x = np.array([v for v in values if v is not None], float)
    if len(x) == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), (draws, len(x)))].mean(axis=1)
    return {
        "mean": float(x.mean()),
        "low": float(np.quantile(means, 0.025)),
        "high": float(np.quantile(means, 0.975)),
        "n": len(x),
    }


def summarise_scores(per_target: list[dict], models: list[str]) -> dict:
    """Per model, over every (fish, target, kind): mean r, mean AUROC (each with its 95 % range),
    sign agreement pooled over responders, and how many targets had a defined r (a forecaster
    that predicts no response elsewhere has none)."""
    out = {}
    for m in models:
        scores = [t["scores"][m] for t in per_target if m in t["scores"]]
        signs = [(s["sign_agreement"], s["responders"]) for s in scores if s["sign_agreement"] is not None]
        out[m] = {
            "r": mean_with_range([s["r"] for s in scores]),
            "auroc": mean_with_range([s["auroc"] for s in scores]),
            "sign_agreement": sum(a * n for a, n in signs) / sum(n for _, n in signs) if signs else None,
            "targets": len(scores),
        }
    return out


@dataclass
class Lag1Groups:
    """The no-model baseline: x(t + 1) = A x(t) + c on the groups' mean activity (lag-1 linear
    regression, fitted by ridge least squares on the training fish); a perturbation's response is
    carried through A, with the target group held at its perturbed level while it is active."""

    A: np.ndarray  # (G, G) target x source

    @classmethod
    def fit(cls, series: list[np.ndarray], ridge: float = 1e-3) -> "Lag1Groups":
        """series: per training fish, (T, G) the groups' mean activity (each fish centred)."""
        x = np.concatenate([s[:-1] - s.mean(0) for s in series])
        y = np.concatenate([s[1:] - s.mean(0) for s in series])
        gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
        return cls(np.linalg.solve(gram, x.T @ y).T)

    def response(self, p: Perturbation, group: int, level: np.ndarray, horizon: int) -> np.ndarray:
        """(H, G) the response to `p` on whole group `group`, from every neuron's level (N,) before it."""
        level = torch.from_numpy(np.asarray(level, np.float32))
        forced = float((p.apply(level) - level)[p.targets].mean())
        dx, out = np.zeros(len(self.A)), []
        for k in range(horizon):
            dx = self.A @ dx
            if p.active(k):
                dx[group] = forced
            out.append(dx.copy())
        return np.stack(out)


def sphere(xyz: np.ndarray, centre, radius: float) -> np.ndarray:
    """The neurons within `radius` of `centre` (same units as xyz): a target set."""
    return np.flatnonzero(np.linalg.norm(np.asarray(xyz) - np.asarray(centre), axis=1) <= radius)


def regions(xyz: np.ndarray, n_regions: int, seed: int = 0) -> np.ndarray:
    """(N,) a region per neuron: k-means on the positions (sbm.io.export.fit_regions, one fish),
    regions numbered front to back (x)."""
    km = fit_regions([xyz], min(n_regions, len(xyz)), seed)
    order = np.argsort(np.argsort(km.cluster_centers_[:, 0]))
    return order[km.labels_]


def behaviour_series(pnms: list, batch: dict, context: int, forecast: torch.Tensor) -> np.ndarray:
    """(B, D, H) each PNM's behaviour at each forecast step of a rollout (B, H, N), read from the
    true starting frames and the rollout (only the frames the PNM reads)."""
    F = pnms[0].cfg.frames if pnms else 1
    seq = torch.cat((batch["prob"][:, :context], forecast), dim=1)[:, context - F + 1 :]
    return np.stack([[pnm.series(seq[b], batch["xyz"][b])[F - 1 :].numpy() for pnm in pnms] for b in range(len(seq))])


def insilico_fish(
    path,
    model: SBM,
    fitted: dict[str, Forecaster],
    cfg: InsilicoConfig,
    groups: np.ndarray | None = None,
    group_names: list[str] | None = None,
    lag1: Lag1Groups | None = None,
    replay: Callable | None = None,
    pnms: list | None = None,
) -> tuple[list[dict], dict]:
    """The panel on one held-out fish: every group (`groups`, e.g. the simulator's populations;
    without them, the fish's k-means regions) excited / silenced / clamped from the same starts,
    the response rolled out by the SBM and the `fitted` forecasters (and the `lag1` baseline),
    and, where `replay(frames, perturbations)` gives the simulator's truth
    (sbm.synth.replay.Responses), scored against it. Returns (one entry per experiment: maps,
    scores, behaviour effects; the arrays the figure and the page draw)."""
    C, H = model.cfg.context, cfg.horizon
    fish = open_probs(path, C + H)
    windows = Windows([fish], context=C + H - 1)  # C start frames + the true future (its stimulus)
    batch = collate([windows[i] for i in spaced_windows(windows, cfg.starts)])
    if groups is None:
        groups = regions(fish.xyz, cfg.regions)
        group_names = [f"region_{g:02d}" for g in range(groups.max() + 1)]
    G = len(group_names)
    panel = [
        (g, Perturbation(group_names[g], np.flatnonzero(groups == g), kind, cfg.strength, cfg.start, cfg.duration))
        for g in range(G)
        if (groups == g).any()
        for kind in cfg.kinds
    ]
    forecasters = {"sbm": sbm_forecaster(model.eval()), **fitted}
    response = {m: np.zeros((len(panel), H, fish.n_neurons), np.float32) for m in forecasters}
    behaviour = np.zeros((len(panel), len(pnms or []), H))
    start = batch["prob"][:, :C]
    with torch.no_grad():
        for m, forecast in forecasters.items():
            base = rollout(forecast, start, batch["xyz"], batch["stimulus"], batch["mask"], H)
            base_behaviour = behaviour_series(pnms, batch, C, base) if m == "sbm" and pnms else None
            for i, (_, p) in enumerate(tqdm(panel, desc=f"{fish.subject} {m}", unit="experiment")):
                r = predicted_response(forecast, batch, C, p, base)
                response[m][i] = r.mean(dim=0).numpy()
                if base_behaviour is not None:  # the SBM's forecast brain read by the PNMs
                    behaviour[i] = (behaviour_series(pnms, batch, C, base + r) - base_behaviour).mean(axis=0)
    truth = replay((batch["start"] + C).tolist(), [p for _, p in panel]) if replay is not None else None
    level = start.mean(dim=(0, 1)).numpy()  # each neuron's activity before the experiments
    entries = []
    for i, (g, p) in enumerate(panel):
        window = [k for k in range(H) if p.active(k)]
        maps = {m: group_map(response[m][i], groups, G, p) for m in forecasters}
        if lag1 is not None:
            maps["lag1"] = lag1.response(p, g, level, H)[window].mean(axis=0)
            maps["lag1"][g] = np.nan  # every neuron of the group was a target
        entry = {"subject": fish.subject, "target": p.name, "kind": p.kind, "neurons": len(p.targets)}
        entry["behavior"] = {"sbm": behaviour[i][:, window].mean(axis=1).tolist()} if pnms else {}
        if truth is not None:
            maps["truth"] = group_map(truth.prob[i].mean(axis=0), groups, G, p)
            entry["scores"] = {m: score_map(v, maps["truth"], cfg.threshold) for m, v in maps.items() if m != "truth"}
            entry["behavior"]["truth"] = truth.drive[i].mean(axis=0)[window].mean(axis=0).tolist()
        entry["maps"] = {m: [None if np.isnan(x) else float(x) for x in v] for m, v in maps.items()}
        entries.append(entry)
    arrays = {
        "xyz": fish.xyz,
        "group": groups.astype(np.int64),
        "response_sbm": response["sbm"].astype(np.float16),  # (experiments, H, N), mean over starts
        "behavior_sbm": behaviour.astype(np.float32),  # (experiments, D, H)
        "fps": fish.fps,
        "context": C,
        "experiments": [f"{p.name}:{p.kind}" for _, p in panel],
        "group_names": list(group_names),
        "start": cfg.start,
        "duration": cfg.duration,
    }
    if truth is not None:
        arrays["response_truth"] = truth.prob.mean(axis=1).astype(np.float16)
        arrays["drive_truth"] = truth.drive.mean(axis=1).transpose(0, 2, 1).astype(np.float32)  # (experiments, 3, H)
    return entries, arrays


def behaviour_agreement(entries: list[dict], pnm_names: list[str], drive_names: list[str]) -> dict:
    """Per behaviour the PNM reads and the simulator drives: over the experiments, Pearson r
    between the SBM-predicted change and the simulator truth's, and the sign agreement on the
    quarter of experiments with the largest change in the truth."""
    out = {}
    for name in (n for n in pnm_names if n in drive_names):
        pred = np.array([e["behavior"]["sbm"][pnm_names.index(name)] for e in entries])
        truth = np.array([e["behavior"]["truth"][drive_names.index(name)] for e in entries])
        top = np.argsort(-np.abs(truth))[: max(1, len(truth) // 4)]
        out[name] = {
            "r": float(np.corrcoef(pred, truth)[0, 1]) if pred.std() > 0 and truth.std() > 0 else None,
            "sign_agreement_top_quarter": float(np.mean(np.sign(pred[top]) == np.sign(truth[top]))),
            "largest_truth": {
                "experiment": f"{entries[top[0]]['target']}:{entries[top[0]]['kind']}",
                "truth": float(truth[top[0]]),
                "sbm": float(pred[top[0]]),
            },
        }
    return out


def simulator_replay(sim: SimConfig, truth_path, truth: SimulatedTruth, horizon: int, replicas: int) -> Callable:
    """replay(frames, perturbations) for insilico_fish: the simulator's truth for one held-out
    fish, its neurons in the probs file's order. Refused unless `sim` reproduces the fish of
    `truth_path` (the expected spikes of its first frames, bit for bit)."""
    with open_checked(truth_path, GROUND_TRUTH) as g:
        subject, rate = str(g.attrs.get("subject", "")), g["rate"][:8]
    try:
        same = np.array_equal(expected_spikes(sim, subject, len(rate)), rate)
    except ValueError:  # not a simulator subject name
        same = False
    if not same:
        raise InputError(truth_path, "the simulator settings given do not reproduce this fish (replay needs its own)")

    def replay(frames: list[int], perturbations: list[Perturbation]) -> Responses:
        in_simulator = [dataclasses.replace(p, targets=truth.columns[p.targets]) for p in perturbations]
        r = replay_responses(sim, subject, frames, in_simulator, horizon, replicas)
        return Responses(r.prob[..., truth.columns], r.drive)

    return replay
