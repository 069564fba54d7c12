"""How many neurons can one whole-model training step take on one device, and how fast?

One training step of the full SBM (the config's defaults: context 12, d_model 256, 8 heads,
4 layers, routed spatial attention with clusters of 384, always the sdpa back end) on one random fish of N
neurons (probabilities in [0, 1], positions in [-1, 1], a one-hot stimulus of a few columns,
every neuron real), done as sbm/train/sbm.py does it: forward (bf16 autocast on CUDA), masked
BCE, backward, gradient clipping, Muon on the blocks' matrices and AdamW on the rest, then the
centroid update. For each N: the median step time after warm-up, the first step (compilation
included under --compile), peak memory, and neuron-frames per second (batch x context x N per
step). Each N runs in a fresh process, so its peak memory is its own and running out of memory
ends only its own row.

    python benchmarks/sbm_train_step.py --device cpu --n 500 --n-layers 1      # a smoke test
    python benchmarks/sbm_train_step.py --n 10000 40000 80000 160000            # CUDA, bf16
    python benchmarks/sbm_train_step.py --n 10000 40000 80000 160000 --checkpointing
    python benchmarks/sbm_train_step.py --n 40000 --sdpa flash efficient math       # restrict SDPA kernels
    python benchmarks/sbm_train_step.py --n 80000 --compile
    python benchmarks/sbm_train_step.py --check                                # device vs CPU, tiny model
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext

import torch
import torch.nn.functional
from torch.nn.attention import SDPBackend, sdpa_kernel

from sbm.model.sbm import SBM, SBMConfig, body_matrices, masked_bce, update_centroids

SDPA = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


def fish(n: int, args, device) -> tuple:
    """Random inputs (prob, xyz, stimulus, mask) and targets of one batch."""
    g = torch.Generator().manual_seed(0)
    B, T = args.batch, args.context
    prob, target = torch.rand(B, T, n, generator=g), torch.rand(B, T, n, generator=g)
    xyz = torch.rand(B, n, 3, generator=g) * 2 - 1
    stimulus = torch.nn.functional.one_hot(torch.randint(0, args.stimuli, (B, T), generator=g), args.stimuli).float()
    mask = torch.ones(B, n, dtype=torch.bool)
    return [t.to(device) for t in (prob, xyz, stimulus, mask)], target.to(device)


def config(n: int, args) -> SBMConfig:
    return SBMConfig(
        n_stimuli=args.stimuli,
        context=args.context,
        d_model=args.d_model,
        n_heads=args.heads,
        n_layers=args.n_layers,
        cluster_size=args.cluster_size,
        n_centroids=max(512, n // args.cluster_size + 1),
        spatial=args.spatial,
    )


def one(n: int, args) -> dict:
    """Time whole training steps at N neurons (run in a child process)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    model = SBM(config(n, args)).to(device).train()
    model.checkpointing = args.checkpointing
    muon, adamw = body_matrices(model)
    optimizers = [
        torch.optim.Muon(muon, lr=0.02, weight_decay=1e-4),
        torch.optim.AdamW(adamw, lr=5e-4, betas=(0.9, 0.95), weight_decay=1e-4),
    ]
    net = torch.compile(model) if args.compile else model
    inputs, target = fish(n, args, device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and args.bf16 else nullcontext()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # Over the backward pass too: it recomputes the forward under --checkpointing.
    kernels = (lambda: sdpa_kernel([SDPA[b] for b in args.sdpa])) if args.sdpa else nullcontext

    def step() -> float:
        with kernels():
            with autocast:
                logits = net(*inputs)
            loss = masked_bce(logits, target, inputs[3])
            for o in optimizers:
                o.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for o in optimizers:
            o.step()
        update_centroids(model)
        return loss.item()  # also waits for the device

    times, losses = [], []
    for _ in range(args.warmup + args.repeats):
        sync()
        t0 = time.perf_counter()
        losses.append(step())
        sync()
        times.append(time.perf_counter() - t0)
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    reserved = torch.cuda.max_memory_reserved() / 2**30 if cuda else float("nan")
    return {
        "first_s": times[0],
        "step_s": statistics.median(times[args.warmup :]),
        "peak_gib": peak,
        "reserved_gib": reserved,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "params": sum(p.numel() for p in model.parameters()),
    }


def check(args) -> None:
    """A tiny model's fp32 logits and gradients on the device against the CPU's."""
    n, results = 3 * args.cluster_size // 2, []
    for device in ("cpu", args.device):
        torch.manual_seed(0)
        model = SBM(config(n, args)).to(device).train()
        inputs, target = fish(n, args, device)
        logits = model(*inputs)
        masked_bce(logits, target, inputs[3]).backward()
        results.append([logits.detach().cpu()] + [p.grad.cpu() for p in model.parameters()])
    worst = max((a - b).abs().max().item() / max(a.abs().max().item(), 1e-12) for a, b in zip(*results))
    print(
        f"check, N = {n}, fp32: largest difference {args.device} vs cpu over logits and gradients, "
        f"relative to each tensor's largest value: {worst:.2e}"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", help="neurons (default: 10k 40k 80k 160k on CUDA, 1k 4k on the CPU)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=1, help="windows (fish) per step")
    p.add_argument("--context", type=int, default=12)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--cluster-size", type=int, default=384)
    p.add_argument("--spatial", default="routed", choices=["routed", "dense"])
    p.add_argument("--stimuli", type=int, default=4, help="columns of the one-hot stimulus")
    p.add_argument("--checkpointing", action="store_true", help="recompute each block in the backward pass")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast (CUDA only)")
    p.add_argument(
        "--sdpa", nargs="+", choices=list(SDPA), help="allow only these SDPA kernels (default: PyTorch's choice)"
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation happens here)")
    p.add_argument("--repeats", type=int, default=5, help="timed steps; the median is reported")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600, help="seconds per N")
    p.add_argument("--check", action="store_true", help="first compare a tiny model on the device with the CPU")
    p.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args)))
        return
    if args.check:
        check(args)
    ns = args.n or ([10000, 40000, 80000, 160000] if args.device.startswith("cuda") else [1000, 4000])
    where = (
        torch.cuda.get_device_name(torch.device(args.device))
        if args.device.startswith("cuda")
        else f"cpu, {args.threads or torch.get_num_threads()} threads"
    )
    precision = "bf16 autocast" if args.device.startswith("cuda") and args.bf16 else "fp32"
    print(
        f"whole SBM training step: {where}, torch {torch.__version__}, {args.spatial} (sdpa), "
        f"{args.n_layers} layers, d_model {args.d_model}, "
        f"{args.heads} heads, w {args.cluster_size}, context {args.context}, batch {args.batch}, {precision}, "
        f"checkpointing {'on' if args.checkpointing else 'off'}, compile {'on' if args.compile else 'off'}, "
        f"SDPA kernels {' '.join(args.sdpa) if args.sdpa else 'any'}; "
        f"median of {args.repeats} steps after {args.warmup}"
    )
    print("| N | step (s) | first step (s) | peak GiB | reserved GiB | neuron-frames/s | loss first -> last |")
    print("|---|---|---|---|---|---|---|")
    errors = []
    for n in ns:
        cmd = [sys.executable, __file__, "--one", str(n)] + sys.argv[1:]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"| {n:,} | > {args.timeout:.0f} s (stopped) | | | | | |", flush=True)
            continue
        if proc.returncode != 0:
            err = proc.stderr.lower()
            if "out of memory" in err or "outofmemory" in err or proc.returncode == -9:
                print(f"| {n:,} | out of memory | | | | | |", flush=True)
            else:
                last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:100]
                print(f"| {n:,} | failed: {last} | | | | | |", flush=True)
                errors.append((n, proc.stderr))
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = args.batch * args.context * n / r["step_s"]
        print(
            f"| {n:,} | {r['step_s']:.3f} | {r['first_s']:.2f} | {r['peak_gib']:.2f} | {r['reserved_gib']:.2f} | "
            f"{rate:,.0f} | {r['loss_first']:.4f} -> {r['loss_last']:.4f} |",
            flush=True,
        )
    for n, stderr in errors:  # what went wrong, after the table
        lines = stderr.strip().splitlines()
        print(f"\nN = {n}: the child's stderr ({len(lines)} lines), first and last 15:")
        print("\n".join(lines[:15] + (["..."] if len(lines) > 30 else []) + lines[max(15, len(lines) - 15) :]))


if __name__ == "__main__":
    main()
