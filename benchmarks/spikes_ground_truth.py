"""Causal spike inference on real neurons: leave one ground-truth dataset out, over all of them.

    python benchmarks/spikes_ground_truth.py [--ground-truth-dir ../shared/data/cascade_ground_truth]
        [--fps 2.0 2.5] [--modes average sample] [--noise native 4 8] [--ensemble 1] [--steps 500]
        [--out benchmarks/spikes_ground_truth.json]

Every dataset folder (DS*) of the ground-truth directory is held out in turn. Every method is fitted
on all the *other* datasets and scored on the held-out one. Both are brought to the frame rate by
frame averages or by one sample per frame. Training uses native noise plus degradation to levels
2, 3, 4, 5, 6 and 8. Testing uses the levels in --noise. Everything goes through the pipeline's own
causal DF/F (30 s, 8th percentile), as the real fish do. The traces of each dataset are built once
per frame rate and mode, and the folds reuse them.

Score: per held-out dataset, the median over neurons (trials of a neuron joined) of the Pearson r
between the estimate and the spike counts of the same frame (lag 0). Summary per method:
  - the median of those per-dataset scores;
  - on how many held-out datasets the method is the best causal one;
  - the median over the zebrafish GCaMP6f sets (DS06-DS08), closest to the light-sheet data.
`spikes ratio` is, for the two methods that output spikes per frame (ar1 and cnn), the held-out
set's mean inferred over true spikes per frame. The other methods are in DF/F units and have no scale.

--out merges the scores into a JSON file (a run replaces the one of the same frame rate, mode and
noise level): the pipeline's `spikes.method: auto` chooses its spike model from that file
(sbm/spikes/choice.py), so commit it after a run.

Methods:
  - cnn: the pipeline's causal network ensemble (look-ahead 0);
  - first_difference: a causal first difference;
  - ar1: the pipeline's causal AR(1) model (sbm/spikes/ar1.py): g fitted on the training datasets
    for the median r, and a gain from DF/F to spikes;
  - linear8: an 8-frame causal linear filter fitted by least squares;
  - oasis (non-causal): a reference that needs no training, scored at native noise only.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from sbm.spikes.ar1 import train_ar1_model
from sbm.spikes.baselines import LinearFilter, first_difference, oasis
from sbm.spikes.ground_truth import frame_traces, load_cascade
from sbm.spikes.metrics import lagged_r
from sbm.spikes.model import SpikeNetConfig, train_model

BANDS = [0, 3, 5, 8, 100]
TRAIN_NOISE = [2, 3, 4, 5, 6, 8]
ZEBRAFISH_GCAMP6F = "GCaMP6f-zf"
NON_CAUSAL = "oasis (non-causal)"
IN_SPIKES = ("ar1", "cnn")  # methods whose output is expected spikes per frame
METHODS = ["cnn", "first_difference", "ar1", "linear8", NON_CAUSAL]


def median_r(traces, estimates) -> float:
    """Median over neurons of r at lag 0, the trials of each neuron joined."""
    joined = {}
    for t, est in zip(traces, estimates):
        e, c = joined.setdefault(t.name.split("#")[0], ([], []))
        e.append(est)
        c.append(t.counts)
    r = [lagged_r(np.concatenate(e)[:, None], np.concatenate(c)[:, None], 0)[0] for e, c in joined.values()]
    return float(np.nanmedian(r))


def dataset_traces(recordings, fps, mode, test_noise):
    """Per dataset: its training traces (native and degraded) and its test traces per noise level."""
    out = {}
    for name, recs in recordings.items():
        rng = np.random.default_rng(0)
        train = [t for nu in [None, *TRAIN_NOISE] for t in frame_traces(recs, fps, mode, nu, rng)]
        rng = np.random.default_rng(1)
        test = {
            nu: [t for t in frame_traces(recs, fps, mode, None if nu == "native" else float(nu), rng) if np.ptp(t.dff)]
            for nu in test_noise
        }
        out[name] = (train, test)
    return out


def fit_methods(train, fps, cfg, names):
    """The methods in `names`, fitted on the training traces: name -> estimate of one trace."""
    dffs, counts = [t.dff for t in train], [t.counts for t in train]
    fitters = {
        "cnn": lambda: train_model(train, fps, BANDS, cfg),
        "first_difference": lambda: None,
        "ar1": lambda: train_ar1_model(train, fps),
        "linear8": lambda: LinearFilter.fit(dffs, counts, taps=8),
        NON_CAUSAL: lambda: None,
    }
    apply = {
        "cnn": lambda m, t: m.infer(t.dff[:, None], np.array([t.noise]))[:, 0],
        "first_difference": lambda m, t: first_difference(t.dff),
        "ar1": lambda m, t: m.infer(t.dff),
        "linear8": lambda m, t: m.apply(t.dff),
        NON_CAUSAL: lambda m, t: oasis(t.dff, fps),
    }
    fitted = {name: fitters[name]() for name in names}
    return {name: (lambda t, name=name: apply[name](fitted[name], t)) for name in names}


def print_tables(scores, ratios):
    """scores[(fps, mode, noise)][held][method] -> r; ratios[(fps, mode, noise)][held][method] -> ratio."""
    for key, table in scores.items():
        fps, mode, noise = key
        methods = [m for m in METHODS if m in next(iter(table.values()))]
        spiking = [m for m in IN_SPIKES if m in methods]
        print(f"\n### {fps} Hz, {mode}, noise {noise}: median r at lag 0 per held-out dataset\n")
        print("| held-out dataset | " + " | ".join(methods) + " | spikes ratio " + ", ".join(spiking) + " |")
        print("|---" * (len(methods) + 2) + "|")
        matrix = np.array([[table[h].get(m, np.nan) for m in methods] for h in table])

        def ratio_cell(held):
            return ", ".join(f"{ratios[key][held][m]:.2f}" for m in spiking)

        for h, row in zip(table, matrix):
            cells = [f"{v:.3f}" if np.isfinite(v) else "-" for v in row]
            print(f"| {h} | " + " | ".join(cells) + f" | {ratio_cell(h)} |")
        causal = [i for i, m in enumerate(methods) if m != NON_CAUSAL]
        best = np.array(causal)[np.nanargmax(matrix[:, causal], axis=1)]
        zf = [h for h in table if ZEBRAFISH_GCAMP6F in h]
        in_range = [sum(0.8 <= ratios[key][h][m] <= 1.25 for h in table) for m in spiking]
        print(
            "| **median over held-out datasets** | "
            + " | ".join(f"{np.nanmedian(c):.3f}" for c in matrix.T)
            + " | within 0.8-1.25 on "
            + ", ".join(map(str, in_range))
            + " |"
        )
        print(
            "| **best causal on (datasets)** | "
            + " | ".join(str(int((best == i).sum())) for i in range(len(methods)))
            + " | |"
        )
        if zf:
            rows = [list(table).index(h) for h in zf]
            print(
                "| **median over zebrafish GCaMP6f** | "
                + " | ".join(f"{np.nanmedian(c[rows]):.3f}" for c in matrix.T)
                + " | "
                + "; ".join(ratio_cell(h) for h in zf)
                + " |"
            )


def write_results(path, scores, ratios, args):
    """Merge this run's scores into the JSON file at `path` (sbm/spikes/choice.py reads it)."""
    path = Path(path)
    old = json.loads(path.read_text())["runs"] if path.exists() else []
    new = [
        {"fps": fps, "mode": mode, "noise": noise, "scores": table, "spikes_ratio": ratios[(fps, mode, noise)]}
        for (fps, mode, noise), table in scores.items()
    ]
    # A run of the same rate, mode and noise is updated method by method (--methods reruns some).
    runs = {(r["fps"], r["mode"], r["noise"]): r for r in old}
    for r in new:
        kept = runs.setdefault((r["fps"], r["mode"], r["noise"]), {**r, "scores": {}, "spikes_ratio": {}})
        for field in ("scores", "spikes_ratio"):
            for held, row in r[field].items():
                kept[field].setdefault(held, {}).update(row)
    runs = sorted(runs.values(), key=lambda r: (r["fps"], r["mode"], r["noise"]))
    settings = {"cnn_ensemble": args.ensemble, "cnn_steps": args.steps, "ground_truth_dir": args.ground_truth_dir}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"script": "benchmarks/spikes_ground_truth.py", "settings": settings, "runs": runs}))
    tmp.replace(path)
    return runs


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--ground-truth-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/cascade_ground_truth")
    )
    p.add_argument("--datasets", nargs="+", help="hold out among these only (default: every DS* folder)")
    p.add_argument("--fps", type=float, nargs="+", default=[2.0, 2.5])
    p.add_argument("--modes", nargs="+", default=["average", "sample"])
    p.add_argument("--noise", nargs="+", default=["native", "4", "8"], help="test noise levels")
    p.add_argument("--ensemble", type=int, default=1, help="networks per noise band (the pipeline's default: 2)")
    p.add_argument("--steps", type=int, default=500, help="steps per network (the pipeline's default: 500)")
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, help="methods to fit and score")
    p.add_argument("--out", help="merge the scores into this JSON file (the pipeline chooses its method by it)")
    args = p.parse_args()
    torch.set_num_threads(2)
    datasets = args.datasets or sorted(d for d in os.listdir(args.ground_truth_dir) if d.startswith("DS"))
    recordings = load_cascade(args.ground_truth_dir, datasets)
    cfg = SpikeNetConfig(ensemble=args.ensemble, steps=args.steps)
    scores, ratios = {}, {}
    t_start = time.time()
    for fps in args.fps:
        for mode in args.modes:
            traces = dataset_traces(recordings, fps, mode, args.noise)
            for held in datasets:
                train = [t for d in datasets if d != held for t in traces[d][0]]
                methods = fit_methods(train, fps, cfg, args.methods)
                for noise in args.noise:
                    test = traces[held][1][noise]
                    if not sum(t.counts.sum() for t in test):  # e.g. every trace already noisier
                        print(f"  {held} at {fps} Hz {mode}, noise {noise}: no test trace with spikes, not scored")
                        continue
                    row = scores.setdefault((fps, mode, noise), {}).setdefault(held, {})
                    for name, method in methods.items():
                        if name == NON_CAUSAL and noise != "native":
                            continue
                        estimates = [method(t) for t in test]
                        row[name] = median_r(test, estimates)
                        if name in IN_SPIKES:
                            ratio = sum(e.sum() for e in estimates) / sum(t.counts.sum() for t in test)
                            ratios.setdefault((fps, mode, noise), {}).setdefault(held, {})[name] = float(ratio)
                print(f"  done {fps} Hz {mode} held-out {held} ({time.time() - t_start:.0f} s)", flush=True)
            if args.out:  # after every frame rate and mode: an interrupted run keeps what it did
                merged = write_results(args.out, scores, ratios, args)
    if args.out:  # the tables of every method in the file (a --methods rerun updates some)
        merged = {(r["fps"], r["mode"], r["noise"]): r for r in merged}
        scores = {key: merged[key]["scores"] for key in scores}
        ratios = {key: merged[key]["spikes_ratio"] for key in scores}
    print_tables(scores, ratios)
    print(f"\n{time.time() - t_start:.0f} s in all")


if __name__ == "__main__":
    main()
