"""Train the causal spike model for one frame rate: the method the benchmark ships (spikes.method
auto, see sbm/spikes/choice.py), or the one the config names (ar1, sparse, sparse_own_decay, cnn).

    python scripts/train_spike_model.py --fps 2.0 --source cascade \
        --ground-truth-dir ../shared/data/cascade_ground_truth --datasets DS06-GCaMP6f-zf-aDp ... \
        --benchmark benchmarks/spikes_ground_truth.json \
        --settings '{...the config's spikes section...}' --out model.pt
    python scripts/train_spike_model.py --fps 2.0 --source synthetic --synthetic '{"n_neurons": 2000}' ...
"""

import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg, read_json, run
from sbm.io.atomic import atomic_path
from sbm.io.errors import InputError
from sbm.spikes.ar1 import train_ar1_model
from sbm.spikes.choice import choose_method
from sbm.spikes.ground_truth import cascade_training_traces, load_cascade, synthetic_training_traces
from sbm.spikes.model import SpikeNetConfig, train_model
from sbm.spikes.sparse import OWN_DECAY_PRIOR_S, train_sparse_model


@dataclass(kw_only=True)
class Args(Command):
    fps: float = arg("frame rate the model is for (Hz)")
    source: str = arg("ground truth: cascade (the CASCADE database) or synthetic (the simulator)")
    ground_truth_dir: Path | None = arg("CASCADE ground-truth folder (source cascade)", None)
    manifest: Path | None = arg(
        "the ground-truth download's manifest (download_ground_truth.py): every dataset must be in it", None
    )
    datasets: list[str] = arg("CASCADE dataset folders to train on", [])
    settings: dict = arg("the config's `spikes` section")
    synthetic: dict = arg("the config's `synthetic` section (source synthetic)", {})
    dff: dict = arg("the config's `dff` section (the same DF/F as the data)", {})
    benchmark: Path | None = arg("the ground-truth benchmark's results (spikes_ground_truth.py): method auto", None)
    out: Path = arg("the spike model")


def choose(method: str, benchmark: Path | None, fps: float, mode: str, out: Path) -> tuple[str, str]:
    """The method to train and why: the benchmark's rule for `auto`, else the config's choice."""
    if method != "auto":
        return method, "the config (spikes.method)"
    if benchmark is None:
        raise InputError(out, "spikes.method auto needs --benchmark (the ground-truth benchmark's results)")
    try:
        return choose_method(read_json(benchmark), fps, mode, benchmark)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(benchmark, f"cannot choose a spike model: {err}") from err


def main(args: Args) -> None:
    s = args.settings
    baseline = dict(
        baseline_window_s=args.dff.get("baseline_window_s", 30.0),
        baseline_percentile=args.dff.get("baseline_percentile", 8.0),
    )
    cfg = SpikeNetConfig.from_dict(s["model"])
    method, chosen_by = choose(s.get("method", "auto"), args.benchmark, args.fps, s["resample_mode"], args.out)
    logging.info("spike model for %.3f Hz: %s, chosen by %s", args.fps, method, chosen_by)
    if args.source == "cascade":
        if not args.ground_truth_dir or not args.datasets:
            raise InputError(args.out, "source cascade needs --ground-truth-dir and --datasets")
        if args.manifest:
            missing = sorted(set(args.datasets) - set(read_json(args.manifest).get("datasets", {})))
            if missing:
                raise InputError(args.manifest, f"the download holds no {missing}: rerun download_ground_truth")
        recordings = load_cascade(args.ground_truth_dir, args.datasets)
        traces = cascade_training_traces(
            recordings, args.fps, s["resample_mode"], s["training_noise_levels"], s["repeats"], cfg.seed, **baseline
        )
        provenance = {"ground_truth": str(args.ground_truth_dir), "datasets": args.datasets}
    elif args.source == "synthetic":
        with tempfile.TemporaryDirectory() as tmp:
            traces = synthetic_training_traces(
                args.fps,
                args.synthetic,
                s["calibration_fish"],
                s["training_noise_levels"],
                seed=1_000_003 + cfg.seed,
                workdir=tmp,
                **baseline,
            )
        provenance = {"ground_truth": "simulator", "calibration_fish": s["calibration_fish"]}
    else:
        raise InputError(args.out, f"unknown ground-truth source {args.source!r}: cascade or synthetic")
    logging.info("%d training traces at %.3f Hz (%s)", len(traces), args.fps, provenance)
    if method == "ar1":
        model = train_ar1_model(traces, args.fps)
    elif method == "sparse":
        model = train_sparse_model(traces, args.fps)
    elif method == "sparse_own_decay":
        model = train_sparse_model(traces, args.fps, decay_frames=OWN_DECAY_PRIOR_S * args.fps)
    else:
        model = train_model(traces, args.fps, s["noise_bands"], cfg)
    model.info.update(
        provenance,
        chosen_by=chosen_by,
        resample_mode=s["resample_mode"],
        training_noise_levels=s["training_noise_levels"],
    )
    with atomic_path(args.out) as tmp:
        torch.save(model.state(), tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
