"""How do the SBM, its peers and the baselines forecast the held-out fish, against the observed
(inferred) probabilities and, on simulated fish, the simulator truth?

Reads what `snakemake` wrote under results/<dataset>/ (eval/*.json, benchmarks/*.tsv) and prints
the tables of benchmarks/README.md: next step (MAE against the observed probabilities; on
simulated fish also against the simulator's truth, per neuron and per population, and where each
forecaster sits between the per-neuron ridge (0) and the ceiling (1)), rollouts at a few horizons
(both scorings, growth exponent, mean activity at the last horizon against the observed), fidelity,
connectome, the adaptation to a new fish (MAE against the minutes of it tuned on), and the wall
time and memory of every rule that writes a benchmark file.

    python benchmarks/forecast_tables.py results/synthetic
    python benchmarks/forecast_tables.py results/benchmark --horizons 1 4 8 16 32
"""

import argparse
import csv
from pathlib import Path

from sbm.io.contracts import Adapt, Connectome, Fidelity, NextStep, Rollout, read_result


def table(rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(str, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows[1:]])


def number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def next_step_rows(result: dict) -> list[list]:
    truth = result["truth"]
    rows = [["forecaster", "MAE (observed)", "SBM / it", "ECE"]]
    if truth:
        rows[0] += [
            "MAE (simulator truth)",
            "SBM / it (simulator truth)",
            "population MAE (simulator truth)",
            "ridge 0 -> ceiling 1",
            "ridge 0 -> reachable ceiling 1",
        ]
    for name, mae in sorted(result["mae"].items(), key=lambda item: item[1]):
        row = [name, number(mae), number(result["sbm_over_baseline"].get(name), 3), number(result["ece"].get(name))]
        if truth:
            t = truth["mae"][name]
            row += [
                number(t),
                number(truth["mae"]["sbm"] / t, 3),
                number(truth["mae_population"][name]),
                *(number((truth.get(key) or {}).get(name), 2) for key in ("floor_to_ceiling", "floor_to_reachable")),
            ]
        rows.append(row)
    return rows


def rollout_rows(result: dict, horizons: list[int]) -> list[list]:
    H = len(result["horizon"])
    shown = [h for h in horizons if h <= H]
    truth = result["truth"]
    rows = [["forecaster", *[f"h={h}" for h in shown], "growth b", f"mean activity / observed at h={H}"]]
    if truth:
        rows[0] += [f"h={h} (simulator truth)" for h in shown]
    observed_activity = result["mean_activity"]["observed"][-1]
    for name, mae in sorted(result["mae"].items(), key=lambda item: item[1][-1]):
        row = [name, *[number(mae[h - 1]) for h in shown], number(result["growth_exponent"][name], 3)]
        row.append(number(result["mean_activity"][name][-1] / observed_activity, 3))
        if truth:
            row += [number(truth["mae"][name][h - 1]) for h in shown]
        rows.append(row)
    return rows


def adapt_rows(result: dict) -> list[list]:
    """Per k minutes tuned on: next-step and mean rollout MAE of the SBM, the per-neuron
    forecasters (refitted on the k minutes; on the training fish at 0) and persistence."""
    names = [n for n in ("sbm", "ridge", "mlp", "persistence") if n in result["next_step_mae"]]
    rows = [["minutes", *[f"{n} next step" for n in names], *[f"{n} rollout" for n in names], "fine-tune (s)"]]
    for i, k in enumerate(result["minutes"]):
        rows.append(
            [k]
            + [number(result["next_step_mae"][n][i]) for n in names]
            + [number(result["rollout_mae"][n][i]) for n in names]
            + [f"{result['tune_s'][i]:.0f}"]
        )
    return rows


def measured(value: str) -> float | None:
    """A number of a Snakemake benchmark file; None where it wrote none (NA: a job too short to sample)."""
    try:
        return float(value)
    except ValueError:
        return None


def wall_times(folder: Path) -> list[list]:
    """One row per benchmark file of the run (Snakemake's), or per folder of them: a rule with one job
    per fish or behaviour writes one file per job to a folder. Longest first."""
    files = {}
    for path in sorted((folder / "benchmarks").rglob("*.tsv")):
        with open(path) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        name = path.stem if path.parent == folder / "benchmarks" else f"{path.parent.name}/*"
        files.setdefault(name, []).append((measured(row["s"]), measured(row["max_rss"])))
    rows = [["benchmark file", "jobs", "wall time (s), all jobs", "longest job (s)", "peak RSS (MiB)"]]
    for name, jobs in sorted(files.items(), key=lambda item: -sum(s or 0 for s, _ in item[1])):
        seconds, rss = [s for s, _ in jobs if s is not None], [r for _, r in jobs if r is not None]
        rows.append(
            [
                name,
                len(jobs),
                f"{sum(seconds):.0f}",
                f"{max(seconds):.0f}" if seconds else "",
                f"{max(rss):.0f}" if rss else "",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    args = parser.parse_args()
    eval_dir = args.results / "eval"
    next_step, rollout = (
        read_result(eval_dir / "next_step.json", NextStep),
        read_result(eval_dir / "rollout.json", Rollout),
    )
    print(
        f"Held-out fish {', '.join(next_step['heldout'])}: {next_step['values']:,} neuron-frames at the next step, "
        f"{rollout['starts']} rollouts\n"
    )
    print(
        "Every MAE is pooled: the sum of |error| over every neuron-frame of the held-out fish divided by their "
        "count (rollouts: per horizon step, over every start and neuron). Every trained forecaster (the SBM, "
        "POCO, ridge and its variants, the MLP) keeps the step or penalty with the lowest validation MAE of its "
        "next-step forecast from a full context on the validation fish.\n"
    )
    print("Next step\n\n" + table(next_step_rows(next_step)) + "\n")
    print("Rollouts: MAE per horizon\n\n" + table(rollout_rows(rollout, args.horizons)) + "\n")
    fidelity = read_result(eval_dir / "fidelity.json", Fidelity)["metrics"]
    rows = [["forecaster", "classifier accuracy (0.5: indistinguishable)", "energy distance"]]
    rows += [[n, number(m["classifier_accuracy"], 3), number(m["energy_distance"])] for n, m in fidelity.items()]
    print("Fidelity of next-step states\n\n" + table(rows) + "\n")
    if (eval_dir / "connectome.json").exists():
        auroc = read_result(eval_dir / "connectome.json", Connectome)["auroc"]
        print(
            "Connectome AUROC\n\n" + table([["method", "AUROC"], *[[k, number(v, 3)] for k, v in auroc.items()]]) + "\n"
        )
    if (eval_dir / "adapt.json").exists():
        adapt = read_result(eval_dir / "adapt.json", Adapt)
        print(f"A new fish: held-out {', '.join(adapt['heldout'])}\n\n" + table(adapt_rows(adapt)) + "\n")
    print(
        "Job times (Snakemake's benchmark files; the spike models' are under resources/spike_models/)\n\n"
        + table(wall_times(args.results))
    )


if __name__ == "__main__":
    main()
