"""Time and peak memory of simulating one fish at paper scale (default 100,000 neurons x 5,000 frames).

    python benchmarks/simulate_scale.py [--neurons 100000] [--frames 5000] [--out-dir DIR]

The simulator streams to disk in chunks of frames, so peak memory should stay far below the
size of the data it writes. Prints one table row per size asked for.
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from sbm.synth.fish import SimConfig, simulate_fish


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, default=100_000)
    p.add_argument("--frames", type=int, default=5_000)
    p.add_argument("--out-dir", help="where to write (default: a temporary folder, removed afterwards)")
    args = p.parse_args()
    out = Path(args.out_dir or tempfile.mkdtemp(prefix="sbm-sim-"))
    try:
        t0 = time.perf_counter()
        simulate_fish(SimConfig(n_neurons=args.neurons, n_frames=args.frames), "subject_1", out, progress=True)
        seconds = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        written_mb = sum(f.stat().st_size for f in out.iterdir()) / 2**20
        rate = args.neurons * args.frames / seconds
        print("| neurons | frames | wall time (s) | neuron-frames/s | peak RSS (MiB) | written (MiB) |")
        print("|---|---|---|---|---|---|")
        print(
            f"| {args.neurons:,} | {args.frames:,} | {seconds:.0f} | {rate:,.0f} | {peak_mb:,.0f} | {written_mb:,.0f} |"
        )
    finally:
        if not args.out_dir:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
