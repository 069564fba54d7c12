"""How does one SBM block scale with the number of neurons? Routed vs dense spatial attention.

Forward + backward time and peak memory of one block (spatial attention, temporal attention,
SwiGLU) on one window of `context` steps, for each N, each configuration in a fresh process so
that its peak memory is its own. A configuration that runs past --timeout is reported as such.

    python benchmarks/sbm_scale.py                                   # N = 1k, 4k, 16k, 64k on the CPU
    python benchmarks/sbm_scale.py --device cuda --backend flash --n 16000 64000 128000 256000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from sbm.allocator import find_allocator
from sbm.model.sbm import Block, SBMConfig


def one(n: int, spatial: str, args) -> dict:
    """Time one block's forward and backward at N neurons (run in a child process)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SBMConfig(
        context=args.context,
        d_model=args.d_model,
        n_heads=args.heads,
        spatial=spatial,
        cluster_size=args.cluster_size,
        backend=args.backend if spatial == "routed" else "sdpa",
        n_centroids=max(512, n // args.cluster_size + 1),
    )
    device = torch.device(args.device)
    block = Block(cfg, torch.Generator().manual_seed(0)).to(device).train()
    x = torch.randn(1, args.context, n + 1, args.d_model, device=device, requires_grad=True)
    xyz, mask = torch.rand(1, n, 3, device=device) * 2 - 1, torch.ones(1, n, dtype=torch.bool, device=device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for _ in range(args.repeats + 1):  # the first run warms up
        sync()
        t0 = time.perf_counter()
        with autocast:
            y = block(x, xyz, mask)
        sync()
        t1 = time.perf_counter()
        y.float().square().mean().backward()
        sync()
        times.append((t1 - t0, time.perf_counter() - t1))
        x.grad = None
    fwd, bwd = min(t[0] for t in times[1:]), min(t[1] for t in times[1:])
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"forward_s": fwd, "backward_s": bwd, "peak_mib": peak}


def child_env(args) -> tuple[dict, str]:
    """The environment of each configuration's process, with the CPU allocator preloaded
    (sbm.allocator: glibc's malloc makes time grow faster than the work at large N)."""
    env = dict(os.environ)
    path = find_allocator(args.malloc)
    if path:
        env["LD_PRELOAD"] = path
        return env, args.malloc
    return env, "glibc malloc" + ("" if args.malloc == "system" else f" ({args.malloc} not installed)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    p.add_argument("--modes", nargs="+", default=["routed", "dense"])
    p.add_argument("--context", type=int, default=12)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--cluster-size", type=int, default=384)
    p.add_argument("--backend", default="sdpa", choices=["sdpa", "flash"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--timeout", type=float, default=300, help="seconds per configuration")
    p.add_argument(
        "--malloc",
        default="tcmalloc",
        choices=["tcmalloc", "jemalloc", "system"],
        help="CPU memory allocator (see child_env)",
    )
    p.add_argument("--one", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), args.one[1], args)))
        return
    env, allocator = child_env(args)
    print(
        f"one block, context {args.context}, {allocator}, d_model {args.d_model}, {args.heads} heads, w "
        f"{args.cluster_size}, "
        f"{args.device}, routed back end {args.backend}, "
        f"{torch.get_num_threads() if not args.threads else args.threads} threads"
    )
    print(f"{'mode':>7} {'N':>8} {'forward s':>10} {'backward s':>11} {'total s':>8} {'peak MiB':>9}")
    totals = {}
    for mode in args.modes:
        for n in args.n:
            cmd = [sys.executable, __file__, "--one", str(n), mode] + sys.argv[1:]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
            except subprocess.TimeoutExpired:
                print(f"{mode:>7} {n:>8} {'> ' + str(int(args.timeout)) + ' s (stopped)':>30}")
                continue
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:60]
                reason = "out of memory" if "out of memory" in proc.stderr.lower() or proc.returncode == -9 else last
                print(f"{mode:>7} {n:>8} {'failed: ' + reason:>30}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            totals[mode, n] = r["forward_s"] + r["backward_s"]
            print(
                f"{mode:>7} {n:>8} {r['forward_s']:>10.3f} {r['backward_s']:>11.3f} {totals[mode, n]:>8.3f} "
                f"{r['peak_mib']:>9.0f}",
                flush=True,
            )
    for mode in args.modes:  # the yardstick: growth from the second N (4k) to the largest
        ns = sorted(n for m, n in totals if m == mode)
        if len(ns) >= 2:
            base = ns[1] if len(ns) > 2 else ns[0]
            print(
                f"{mode}: time(N={ns[-1]}) / time(N={base}) = "
                f"{totals[mode, ns[-1]] / totals[mode, base]:.1f} for {ns[-1] / base:.0f}x the neurons"
            )


if __name__ == "__main__":
    main()
