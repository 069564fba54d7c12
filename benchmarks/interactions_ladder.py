"""Does the SBM learn how the brain's populations drive each other, and if not, which rung of the
known-answer ladder loses it?

The same simulated fish (config/ladder.yaml) in three rungs, every forecaster retrained in each:
  clean          reads and is trained on the simulator's true probability of a spike;
  clean_targets  reads the inferred probabilities (the pipeline's spike inference), trained on the truth;
  inferred       today's pipeline: reads and is trained on the inferred probabilities.
and one rung of other fish, to tell a model that cannot express the wiring from one that is not
paid to learn it:
  strong         as clean, on fish whose every connection is twice as strong (synthetic.wiring_gain
                 2), with the SBM's ablation as its only peer.
Each rung is one `snakemake` run (dataset ladder_<rung>); the tables score the
held-out fish against the truth: next step, rollouts, attention against the wiring, in-silico
optogenetics against the simulator's replay. A first table says how much knowing the other
populations can buy a forecaster at all: ridge forecasters of the truth fitted on the training
fish, reading a neuron's own history, or that and every population's true probability (the state of
the simulated network) with weights per population pair (the wiring, linearised).

    python benchmarks/interactions_ladder.py                # run the rungs (about 2 h on 2 cores), then the tables
    python benchmarks/interactions_ladder.py --tables-only  # the tables of rungs already run
"""

import argparse
import functools
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import yaml

from sbm.eval.connectome import group_means
from sbm.eval.truth import read_truth
from sbm.io.contracts import Connectome, Insilico, NextStep, Rollout, read_result
from sbm.workflow import read_config

REPO = Path(__file__).resolve().parents[1]
# Each rung's config layer over config/ladder.yaml (its dataset is ladder_<rung>).
RUNGS = {
    "clean": {"probabilities": {"inputs": "truth", "targets": "truth"}},
    "clean_targets": {"probabilities": {"inputs": "inferred", "targets": "truth"}},
    "inferred": {"probabilities": {"inputs": "inferred", "targets": "inferred"}},
    "strong": {
        "probabilities": {"inputs": "truth", "targets": "truth"},
        "raw_dir": "resources/ladder_strong/raw",
        "synthetic": {"wiring_gain": 2.0},
        "sbm": {"evaluate": {"peers": ["sbm_no_spatial"]}},
    },
}
FORECASTERS = ("sbm", "sbm_no_spatial", "poco", "ridge", "ridge_neighbours", "mlp", "ceiling")
OWN_HISTORY = ("ridge", "mlp")  # read only a neuron's own history (and the stimulus)
EVALUATIONS = ("next_step.json", "rollout.json", "connectome.json", "insilico.json")


def table(rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(str, rows[0])) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows[1:]])


def number(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def run_rung(rung: str, config: Path, cores: str, out_dir: Path) -> None:
    """One rung: the ladder's config with the rung's dataset and probabilities, its evaluations built."""
    out_dir.mkdir(parents=True, exist_ok=True)
    layer = out_dir / f"{rung}.yaml"
    layer.write_text(yaml.safe_dump({"dataset": f"ladder_{rung}", **RUNGS[rung]}))
    targets = [f"results/ladder_{rung}/eval/{name}" for name in EVALUATIONS]
    snakefile = REPO / "workflow" / "Snakefile"
    command = [
        "snakemake",
        "-s",
        str(snakefile),
        "--cores",
        cores,
        "--configfile",
        str(config),
        str(layer),
        "--",
        *targets,
    ]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)


def headroom(config: dict, horizons: list[int], context: int = 4, stride: int = 6, neurons: int = 30) -> list[list]:
    """Truth MAE of ridge forecasters of a neuron's true probability h frames ahead, fitted on the
    training fish (the ridge's alpha by leaving one training fish out) and scored on the held-out
    fish: from its own `context` last true probabilities and the stimulus until the forecast frame,
    and from that plus every population's true probability at the last frame, weighted per (own
    population, other population): the wiring, linearised. Every `stride`-th frame, `neurons`
    random neurons each."""
    raw = Path(config["raw_dir"] or f"resources/{config['dataset']}/raw")
    probs = Path("results") / config["dataset"] / "probs"

    @functools.cache  # every horizon reads the same fish
    def fish(subject: str) -> tuple:
        truth = read_truth(probs / f"{subject}.h5", raw / subject / "ground_truth.h5")
        with h5py.File(probs / f"{subject}.h5") as f:
            stimulus = f["stimulus"][()]
        return truth, stimulus, group_means(truth.prob, truth.population, truth.n_populations)  # (T, P)

    def samples(subject: str, h: int, rng) -> tuple:
        truth, stimulus, network = fish(subject)
        prob, P = truth.prob, truth.n_populations
        own_x, all_x, y = [], [], []
        for t in range(context, len(prob) - h, stride):
            idx = rng.choice(prob.shape[1], min(neurons, prob.shape[1]), replace=False)
            own = np.hstack(
                [
                    prob[t - context + 1 : t + 1, idx].T,
                    np.repeat(stimulus[t + 1 : t + h + 1].reshape(1, -1), len(idx), 0),
                    np.ones((len(idx), 1)),
                ]
            )
            onehot = np.eye(P)[truth.population[idx]]  # (n, P)
            own_x.append(own)
            all_x.append(np.hstack([own, (onehot[:, :, None] * network[t][None, None, :]).reshape(len(idx), -1)]))
            y.append(prob[t + h, idx])
        return [np.vstack(own_x), np.vstack(all_x)], np.concatenate(y)

    def solve(parts: list, k: int, alpha: float) -> np.ndarray:
        xtx = sum(x[k].T @ x[k] for x, _ in parts)
        xty = sum(x[k].T @ y for x, y in parts)
        return np.linalg.solve(xtx + alpha * np.eye(len(xtx)), xty)

    def mae(parts: list, k: int, w: np.ndarray) -> float:
        return float(np.mean(np.concatenate([np.abs(np.clip(x[k] @ w, 0, 1) - y) for x, y in parts])))

    def fitted_mae(train: list, test: list, k: int) -> float:
        alphas = (1e-3, 1e-1, 1.0, 10.0, 100.0)
        cv = [
            np.mean([mae([train[f]], k, solve(train[:f] + train[f + 1 :], k, a)) for f in range(len(train))])
            for a in alphas
        ]
        return mae(test, k, solve(train, k, alphas[int(np.argmin(cv))]))

    rows = [["horizon (frames)", "own history", "+ every population (wiring)", "gain", "persistence"]]
    split = config["split"]
    for h in horizons:
        rng = np.random.default_rng(h)
        train = [samples(s, h, rng) for s in split["train"]]
        test = [samples(s, h, rng) for s in split["heldout"]]
        own, every = fitted_mae(train, test, 0), fitted_mae(train, test, 1)
        persistence = float(np.mean(np.concatenate([np.abs(x[0][:, context - 1] - y) for x, y in test])))
        rows.append([h, number(own), number(every), f"{(own - every) / own:.1%}", number(persistence)])
    return rows


def rung_tables(rungs: list[str], horizons: list[int]) -> str:
    out = []
    found = {
        r: Path(f"results/ladder_{r}/eval") for r in rungs if Path(f"results/ladder_{r}/eval/insilico.json").exists()
    }
    if not found:
        return "no rung has been run: results/ladder_<rung>/eval/ is missing"
    next_step = {r: read_result(p / "next_step.json", NextStep)["truth"] for r, p in found.items()}
    rows = [["forecaster", *found]]
    for name in FORECASTERS:
        rows.append([name, *(number(next_step[r]["mae"].get(name)) for r in found)])
    own_best = {r: min(next_step[r]["mae"][n] for n in OWN_HISTORY if n in next_step[r]["mae"]) for r in found}
    rows.append(["SBM / best own-history", *(number(next_step[r]["mae"]["sbm"] / own_best[r], 3) for r in found)])
    rows.append(["SBM: ridge 0 -> ceiling 1", *(number(next_step[r]["floor_to_ceiling"]["sbm"], 2) for r in found)])
    out.append("Next step, MAE against the truth (held-out fish)\n\n" + table(rows))

    rollout = {r: read_result(p / "rollout.json", Rollout) for r, p in found.items()}
    shown = [h for h in horizons if h <= len(next(iter(rollout.values()))["horizon"])]
    rows = [["forecaster", *(f"{r} h={h}" for r in found for h in shown)]]
    for name in FORECASTERS:
        if name == "ceiling":
            continue
        rows.append(
            [name, *(number(rollout[r]["truth"]["mae"].get(name, [None] * 99)[h - 1]) for r in found for h in shown)]
        )
    out.append("Rollouts, MAE against the truth by horizon\n\n" + table(rows))

    rows = [["rung", "attention", "lag-1 correlation of the populations", "chance"]]
    for r, p in found.items():
        c = read_result(p / "connectome.json", Connectome)["auroc"]
        rows.append([r, number(c["attention"], 3), number(c["lag1_correlation"], 3), "0.5"])
    out.append("The SBM's attention against the true wiring (AUROC of wired population pairs)\n\n" + table(rows))

    rows = [["forecaster", *(f"{r} map r" for r in found), *(f"{r} responder AUROC" for r in found)]]
    scores = {r: read_result(p / "insilico.json", Insilico)["scores"] for r, p in found.items()}
    for name in ("sbm", "sbm_no_spatial", "poco", "lag1", "ridge"):
        rows.append(
            [
                name,
                *(number(scores[r].get(name, {}).get("r", {}).get("mean"), 2) for r in found),
                *(number(scores[r].get(name, {}).get("auroc", {}).get("mean"), 2) for r in found),
            ]
        )
    out.append("In-silico optogenetics against the simulator's replay (mean over experiments)\n\n" + table(rows))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config/ladder.yaml")
    parser.add_argument("--rungs", nargs="+", default=list(RUNGS), choices=list(RUNGS))
    parser.add_argument("--cores", default="all")
    parser.add_argument("--tables-only", action="store_true", help="print the tables of rungs already run")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/out/ladder"), help="the rungs' config layers")
    args = parser.parse_args()
    if not args.tables_only:
        for rung in args.rungs:
            run_rung(rung, args.config, args.cores, args.out_dir)
    # The headroom of each set of fish: the ladder's (its first rung's files) and the strong rung's.
    for rung in dict.fromkeys([args.rungs[0], *(r for r in args.rungs if "raw_dir" in RUNGS[r])]):
        config = read_config(args.config)
        config.update({"dataset": f"ladder_{rung}", "raw_dir": RUNGS[rung].get("raw_dir", config["raw_dir"])})
        if Path("results", config["dataset"], "probs").exists():
            print(f"What knowing every population buys a linear forecaster of the truth ({rung}, held-out fish)\n")
            print(table(headroom(config, [h for h in args.horizons if h <= 16])) + "\n")
    print(rung_tables(args.rungs, args.horizons))


if __name__ == "__main__":
    sys.exit(main())
