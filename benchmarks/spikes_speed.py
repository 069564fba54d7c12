"""Inference throughput of the causal spike model: neuron-frames per second and peak memory.

    python benchmarks/spikes_speed.py [--neurons 10000] [--frames 2000] [--threads 2]

Times SpikeModel.infer (the ensemble of every band, as the `spikes` rule runs it) on DF/F-like
input. Throughput does not depend on the trained weights, so freshly initialised networks with
the pipeline's default architecture are used.
"""

import argparse
import resource
import time

import numpy as np
import torch

from sbm.spikes.model import SpikeModel, SpikeNet, SpikeNetConfig


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, default=10_000)
    p.add_argument("--frames", type=int, default=2_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ensemble", type=int, default=SpikeNetConfig.ensemble)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SpikeNetConfig(ensemble=args.ensemble)
    edges = [0, 3, 5, 8, 100]
    model = SpikeModel(
        2.0, edges, cfg, nets={b: [SpikeNet(cfg).eval() for _ in range(cfg.ensemble)] for b in range(len(edges) - 1)}
    )
    rng = np.random.default_rng(0)
    dff = rng.gamma(1.0, 0.1, (args.frames, args.neurons)).astype(np.float32)
    noise = rng.uniform(1, 10, args.neurons)
    model.infer(dff[:, :256], noise[:256])  # warm-up
    t0 = time.perf_counter()
    model.infer(dff, noise)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| neurons | frames | threads | networks per neuron | wall time (s) | neuron-frames/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.neurons:,} | {args.frames:,} | {args.threads} | {cfg.ensemble} | {seconds:.2f} | "
        f"{args.neurons * args.frames / seconds:,.0f} | {peak:,.0f} |"
    )


if __name__ == "__main__":
    main()
