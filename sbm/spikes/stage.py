"""The `spikes` and `probabilities` stages: DF/F -> expected spikes per frame -> P(spike in frame)."""

import json
import logging
from pathlib import Path

import h5py
import numpy as np

from sbm.io.atomic import atomic_path
from sbm.io.contracts import CARRIED_ATTRS, DFF, NEURON_PARAMETERS, RATES, open_checked
from sbm.io.errors import InputError
from sbm.io.recording import Recording
from sbm.spikes.ar1 import AR1SpikeModel
from sbm.spikes.model import SpikeModel
from sbm.spikes.sparse import SparseAR1Model

SpikeModels = SpikeModel | AR1SpikeModel | SparseAR1Model
MEANING = {  # of each per-neuron parameter, as its attribute in the rates and probs files
    "noise_sd": "noise sd of the innovation dff(t) - g dff(t-1) (DF/F), measured on the neuron's frames",
    "threshold": "innovation (DF/F) at and below which a frame gets p = 0",
    "silent_p": "mean P(spike) of a frame holding only noise of this neuron's sd: what a silent neuron gets",
    "decay": "the neuron's own AR(1) decay per frame at the last frame",
}

log = logging.getLogger(__name__)


def check_frame_rate(model: SpikeModels, fps: float, tolerance: float, source: str | Path) -> None:
    if abs(fps / model.fps - 1) > tolerance:
        raise InputError(
            source,
            f"recorded at {fps:.3f} Hz but the spike model was trained for {model.fps:.3f} Hz "
            f"(tolerance {tolerance:.0%}): train a model for this frame rate",
        )


def write_rates(
    dff_path: str | Path,
    model: SpikeModels,
    out_path: str | Path,
    model_id: str,
    fps_tolerance: float = 0.1,
    block: int = 4096,
    subject: str | None = None,
) -> dict:
    """Infer expected spikes per frame for every neuron of a dff file (of fish `subject`, if
    given), neuron block by block. Recorded beside the rates: the model's floor (the p of a frame
    whose DF/F sits still), its scalar parameters, what it measured per neuron (noise sd,
    threshold, the p of a frame holding only noise, decay: NEURON_PARAMETERS) with their median
    and 5th and 95th percentiles, and for a model with noise bands (the network) each neuron's band."""
    with open_checked(dff_path, DFF, subject=subject) as d:
        fps = float(d.attrs["fps"])
        check_frame_rate(model, fps, fps_tolerance, dff_path)
        noise = d["noise_level"][()]
        T, N = d["dff"].shape
        banded = isinstance(model, SpikeModel)
        band, outside = model.band_of(noise) if banded else (None, np.zeros(N, bool))
        if outside.any():
            log.warning(
                "%s: %d of %d neurons have noise levels outside every band %s: the nearest trained band is used",
                dff_path,
                outside.sum(),
                N,
                model.band_edges,
            )
        n_constant = 0
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as out:
            rate = out.create_dataset("rate", (T, N), np.float32, chunks=(min(T, 128), min(N, 2048)))
            for start in range(0, N, block):
                x = d["dff"][:, start : start + block]
                bad = ~np.isfinite(x)
                if bad.any():
                    raise InputError(
                        dff_path, f"dff holds {int(bad.sum())} non-finite values among neurons {start}..{start + block}"
                    )
                n_constant += int((np.ptp(x, axis=0) == 0).sum())
                rate[:, start : start + x.shape[1]], params = model.infer_with_parameters(
                    x, noise[start : start + block]
                )
                for name, values in params.items():
                    if name not in out:
                        out.create_dataset(name, (N,), np.float32)
                    out[name][start : start + x.shape[1]] = values
            if n_constant:
                log.warning(
                    "%s: %d neurons have a constant DF/F; their rate is the model's constant answer",
                    dff_path,
                    n_constant,
                )
            rate.attrs["units"] = "expected spikes per frame"
            out.create_dataset("noise_level", data=noise)
            out.create_dataset("cell_id", data=d["cell_id"][()])
            out.attrs.update(
                subject=d.attrs["subject"],
                fps=fps,
                method=model.method,
                model_id=model_id,
                lookahead=model.lookahead,
                model_info=json.dumps(model.info, sort_keys=True, default=str),
                n_constant_traces=n_constant,
                floor=model.floor(),
                model_parameters=json.dumps(scalar_parameters(model), sort_keys=True),
            )
            for name in NEURON_PARAMETERS:
                if name in out:
                    values = out[name][()]
                    p05, median, p95 = np.quantile(values, [0.05, 0.5, 0.95])
                    out[name].attrs.update(meaning=MEANING[name], p05=p05, median=median, p95=p95)
            if banded:
                out.create_dataset("band", data=band.astype(np.int8))
                out.attrs.update(band_edges=list(model.band_edges), n_outside_bands=int(outside.sum()))
    log.info("%s: %s rates of %d neurons x %d frames (look-ahead %d)", dff_path, model.method, N, T, model.lookahead)
    return {"neurons": N, "frames": T, "outside_bands": int(outside.sum()), "constant": n_constant}


def scalar_parameters(model: SpikeModels) -> dict:
    """The model's fitted numbers (g, k, gain, offset, ...): its state's scalar fields."""
    return {k: v for k, v in model.state().items() if isinstance(v, (int, float, str)) and k != "method"}


def spike_probability(rate: np.ndarray) -> np.ndarray:
    """P(at least one spike in the frame) for Poisson spiking with `rate` expected spikes."""
    rate = np.asarray(rate)
    if np.any(rate < 0) or not np.all(np.isfinite(rate)):
        raise ValueError("expected spikes per frame must be finite and >= 0")
    return -np.expm1(-rate)  # 1 - exp(-rate), accurate for small rates


def write_probabilities(
    rates_path: str | Path, dff_path: str | Path, out_path: str | Path, block: int = 8192, subject: str | None = None
) -> None:
    """The probs file: p = 1 - exp(-lambda), lambda kept, plus what the model stages need."""
    with open_checked(rates_path, RATES, subject=subject) as r, open_checked(dff_path, DFF, subject=subject) as d:
        if not np.array_equal(r["cell_id"][()], d["cell_id"][()]) or r["rate"].shape[0] != d["dff"].shape[0]:
            raise InputError(rates_path, f"neurons or frames differ from those of {dff_path}: rerun the spikes stage")
        T, N = r["rate"].shape
        with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as out:
            prob = out.create_dataset("prob", (T, N), np.float32, chunks=(min(T, 128), min(N, 2048)))
            lam = out.create_dataset("rate", (T, N), np.float32, chunks=(min(T, 128), min(N, 2048)))
            for start in range(0, N, block):
                x = r["rate"][:, start : start + block]
                try:
                    prob[:, start : start + x.shape[1]] = spike_probability(x)
                except ValueError as err:
                    raise InputError(rates_path, f"neurons {start}..{start + block}: {err}") from err
                lam[:, start : start + x.shape[1]] = x
            prob.attrs["meaning"] = "P(at least one spike in the frame) = 1 - exp(-rate)"
            lam.attrs["units"] = "expected spikes per frame"
            for name in ("noise_level", "cell_id", *(n for n in NEURON_PARAMETERS if n in r)):
                out.create_dataset(name, data=r[name][()])
                out[name].attrs.update(r[name].attrs)
            for name in ("xyz", "stimulus", "behavior"):
                if name in d:  # behaviour may be missing (dff attribute behavior_problem says why)
                    out.create_dataset(name, data=d[name][()])
                    out[name].attrs.update(d[name].attrs)
            out.attrs.update({k: d.attrs[k] for k in ("subject", "fps", "stimulus_names", "behavior_names")})
            out.attrs["behavior_problem"] = d.attrs.get("behavior_problem", "")
            out.attrs.update(method=r.attrs["method"], model_id=r.attrs["model_id"], lookahead=r.attrs["lookahead"])
            out.attrs["model_info"] = r.attrs.get("model_info", "")
            out.attrs.update({k: v for k, v in d.attrs.items() if k.startswith(CARRIED_ATTRS)})
            out.attrs.update(floor=r.attrs["floor"], model_parameters=r.attrs.get("model_parameters", "{}"))


def write_given_probabilities(rec: Recording, stimulus: np.ndarray, stimulus_names: list[str], out_path) -> None:
    """The probs file of a recording of kind `activity` (already in [0, 1]: region averages, rates,
    probabilities): its activity is the probability, as it is, with no spike inference."""
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("prob", data=rec.activity, chunks=(min(rec.n_frames, 128), min(rec.n_neurons, 2048)))
        out["prob"].attrs["meaning"] = "the recording's activity in [0, 1], taken as it is"
        out.create_dataset("xyz", data=rec.xyz_um).attrs["units"] = "micrometre"
        out.create_dataset("cell_id", data=rec.cell_id)
        out.create_dataset("stimulus", data=stimulus)
        if rec.behavior is not None:
            out.create_dataset("behavior", data=rec.behavior)
        out.attrs.update(
            subject=rec.subject,
            fps=rec.fps,
            stimulus_names=list(stimulus_names),
            behavior_names=list(rec.behavior_names),
            behavior_problem=rec.behavior_problem,
            method="given activity",
            scaling="none",
            model_id="",
            lookahead=0,
            source=str(rec.source),
            **{f"dropped_{k}": v for k, v in rec.dropped.items()},
            **{f"recording_{k}": v for k, v in rec.provenance.items()},
        )
    log.info("%s: activity of %d neurons x %d frames is the probability", rec.source, rec.n_neurons, rec.n_frames)
