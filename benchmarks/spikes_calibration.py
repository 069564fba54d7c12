"""Can the scale of lambda be read from DF/F alone? DF/F per spike on every ground-truth dataset.

    python benchmarks/spikes_calibration.py [--ground-truth-dir ../shared/data/cascade_ground_truth]
        [--fps 2.0] [--mode average]

Issue 15 asks for inferred spikes per frame within 0.8-1.25 of the truth on held-out zebrafish
sets. A spike model turns the causal innovation of DF/F into spikes with some scale; it can be
calibrated on a new dataset only if that dataset's DF/F per spike can be told from its DF/F.

Per dataset, at native noise, through the pipeline's causal DF/F and one AR(1) decay g for all
(fitted on every dataset for the median r, as `fit_ar1` does):
  - spikes per frame, and the rectified innovation max(0, dff(t) - g dff(t-1)) per spike (the
    scale a total-matching model needs there);
  - what a model can see without spikes: per neuron, the standard deviation and the 99th
    percentile of the innovation, and CASCADE's noise level (medians over neurons).
Then two calibrations, each fitted leave-one-dataset-out on the other datasets and scored as the
held-out set's inferred over true spikes:
  - one scale: the geometric mean of the other datasets' innovation per spike;
  - scale from statistics: a least-squares line from the three statistics (logs) to the
    innovation per spike (log), over the other datasets.
"""

import argparse
import os
from pathlib import Path

import numpy as np

from sbm.spikes.baselines import ar1_deconvolution, fit_ar1
from sbm.spikes.ground_truth import frame_traces, load_cascade

STATS = ("innovation sd", "innovation p99", "noise level")


def neuron_stats(traces, g) -> np.ndarray:
    """(neurons, 3): the statistics of STATS per neuron, its trials joined."""
    joined = {}
    for t in traces:
        joined.setdefault(t.name.split("#")[0], []).append(t)
    rows = []
    for trials in joined.values():
        u = np.concatenate([t.dff[1:] - g * t.dff[:-1] for t in trials])
        rows.append([u.std(), np.quantile(u, 0.99), np.median([t.noise for t in trials])])
    return np.array(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--ground-truth-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/cascade_ground_truth")
    )
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--mode", default="average", choices=["average", "sample"])
    args = p.parse_args()
    datasets = sorted(d for d in os.listdir(args.ground_truth_dir) if d.startswith("DS"))
    recordings = load_cascade(args.ground_truth_dir, datasets)
    traces = {d: frame_traces(recordings[d], args.fps, args.mode, None, np.random.default_rng(1)) for d in datasets}
    traces = {d: [t for t in ts if np.ptp(t.dff)] for d, ts in traces.items()}
    everything = [t for ts in traces.values() for t in ts]
    g = fit_ar1([t.dff for t in everything], [t.counts for t in everything])

    rate, per_spike, stats = [], [], []
    for d in datasets:
        spikes = sum(t.counts.sum() for t in traces[d])
        rate.append(spikes / sum(len(t.counts) for t in traces[d]))
        per_spike.append(sum(ar1_deconvolution(t.dff, g).sum() for t in traces[d]) / spikes)
        stats.append(np.median(neuron_stats(traces[d], g), axis=0))
    per_spike, stats = np.log(per_spike), np.log(stats)

    ratio = {"one scale": [], "scale from statistics": []}
    for i in range(len(datasets)):
        rest = np.arange(len(datasets)) != i
        ratio["one scale"].append(np.exp(per_spike[i] - per_spike[rest].mean()))
        x = np.column_stack([np.ones(len(datasets)), stats])
        w = np.linalg.lstsq(x[rest], per_spike[rest], rcond=None)[0]
        ratio["scale from statistics"].append(np.exp(per_spike[i] - x[i] @ w))

    print(f"\n### DF/F per spike, {args.fps} Hz, {args.mode}, native noise (one g = {g:.2f})\n")
    header = ["dataset", "spikes per frame", "innovation per spike", *STATS, "ratio: " + ", ".join(ratio)]
    print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
    for i, d in enumerate(datasets):
        cells = [f"{rate[i]:.2f}", f"{np.exp(per_spike[i]):.3f}", *(f"{v:.3f}" for v in np.exp(stats[i]))]
        print(f"| {d} | " + " | ".join(cells) + " | " + ", ".join(f"{r[i]:.2f}" for r in ratio.values()) + " |")
    zf = [i for i, d in enumerate(datasets) if "GCaMP6f-zf" in d]
    for name, r in ratio.items():
        r = np.array(r)
        print(
            f"\n{name}: within 0.8-1.25 on {int(((r >= 0.8) & (r <= 1.25)).sum())} of {len(r)} held-out datasets; "
            f"median |log2 ratio| {np.median(np.abs(np.log2(r))):.2f}; zebrafish GCaMP6f "
            + ", ".join(f"{datasets[i][:4]} {r[i]:.2f}" for i in zf)
        )
    print(
        f"\nInnovation per spike spans x{np.exp(np.ptp(per_spike)):.0f} over the datasets, "
        f"x{np.exp(np.ptp(per_spike[zf])):.1f} over the zebrafish GCaMP6f sets."
    )


if __name__ == "__main__":
    main()
