"""Training the SBM: it learns, it resumes after a kill to the same weights, DDP on 2 CPU processes."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import load_script, run_script

from sbm.cli import parse
from sbm.model.sbm import SBM, SBMConfig, load_weights
from sbm.train.sbm import warmup_cosine, with_own_forecasts

REPO = Path(__file__).resolve().parents[1]
MODEL = {"d_model": 16, "n_heads": 2, "n_layers": 1, "cluster_size": 8, "n_centroids": 8}
TRAIN = {"batch_size": 4, "epochs": 2, "val_per_epoch": 2, "val_windows": 16, "ckpt_every": 4}
SPLIT = {"train": ["subject_1", "subject_2"], "val": ["subject_3"], "heldout": ["subject_5"]}


def command(tmp_path, probs_dir, name="run", model=MODEL, train=TRAIN, split=SPLIT):
    split_file = tmp_path / f"{name}-split.yaml"
    split_file.write_text(yaml.safe_dump(split))
    files = lambda part: [str(probs_dir / f"{s}.h5") for s in split[part]]  # noqa: E731
    return [
        "--split",
        str(split_file),
        "--train",
        *files("train"),
        "--val",
        *files("val"),
        "--settings",
        json.dumps({"model": model, "train": train}),
        "--run-dir",
        str(tmp_path / name),
        "--out",
        str(tmp_path / f"{name}.pt"),
        "--threads",
        "1",
    ]


def train_sbm(argv: list[str]):
    """scripts/train_sbm.py's main on a command line; exceptions propagate."""
    script = load_script("train_sbm")
    return script.main(parse(script.Args, argv))


def metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def same_weights(a: Path, b: Path) -> bool:
    sa, sb = torch.load(a, weights_only=False)["model"], torch.load(b, weights_only=False)["model"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_schedule_warms_up_then_decays_to_zero():
    f = warmup_cosine(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5, abs=0.01) and f(100) == pytest.approx(0.0)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))


def test_training_learns_and_writes_weights_and_metrics(tmp_path, probs_dir):
    train = {**TRAIN, "epochs": 6, "adamw_lr": 3e-3}
    assert train_sbm(command(tmp_path, probs_dir, train=train)) is None
    rows = [r for r in metrics(tmp_path / "run") if r["val_loss"]]
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    model, state = load_weights(tmp_path / "run.pt")
    assert state["split"]["heldout"] == ["subject_5"] and state["training"]["train_fish"] == ["subject_1", "subject_2"]
    assert state["data"]["stimulus_names"] == ["stim_0", "stim_1", "stim_2"] and model.cfg.n_stimuli == 3
    best = min(rows, key=lambda r: float(r["val_mae"]))  # the rule of every trained forecaster: validation MAE
    assert state["training"]["best"]["step"] == int(best["step"])


def test_an_auxiliary_head_trains_and_its_loss_reaches_the_body(tmp_path, probs_dir):
    far_model = {**MODEL, "aux_horizons": [3, 6]}
    runs = {}
    for weight in (0.0, 1.0):  # the same windows and draws: only the auxiliary loss differs
        name = f"far{weight:g}"
        train_sbm(command(tmp_path, probs_dir, name, model=far_model, train={**TRAIN, "aux_weight": weight}))
        runs[weight], state = load_weights(tmp_path / f"{name}.pt")
        assert np.isfinite(state["training"]["best"]["val_loss"])
    off, on = (runs[w].state_dict() for w in (0.0, 1.0))
    assert runs[1.0].cfg.aux_horizons == (3, 6) and on["aux_head.weight"].shape == (2, MODEL["d_model"])
    body = [k for k in on if k.startswith("blocks.") and k.endswith("qkv.weight")]
    assert body and all(not torch.equal(off[k], on[k]) for k in body)


def test_a_rollout_loss_trains_through_the_models_own_forecasts(tmp_path, probs_dir):
    runs = {}
    for weight in (0.0, 1.0):  # the same windows and draws: only the rollout loss differs
        name = f"rollout{weight:g}"
        train = {**TRAIN, "rollout_loss_steps": 3, "rollout_loss_weight": weight}
        train_sbm(command(tmp_path, probs_dir, name, train=train))
        runs[weight] = load_weights(tmp_path / f"{name}.pt")[0].state_dict()
    body = [k for k in runs[1.0] if k.startswith("blocks.") and k.endswith("qkv.weight")]
    assert body and all(not torch.equal(runs[0.0][k], runs[1.0][k]) for k in body)


def test_a_killed_run_resumes_from_its_last_ckpt_to_the_same_weights(tmp_path, probs_dir):
    script = [sys.executable, str(REPO / "scripts/train_sbm.py")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    train = {**TRAIN, "own_forecasts": 0.5, "own_forecast_passes": 2}  # its draws too resume where they were
    subprocess.run(
        script + command(tmp_path, probs_dir, "whole", train=train), check=True, env=env, capture_output=True
    )

    args = command(tmp_path, probs_dir, "killed", train=train)
    proc = subprocess.Popen(script + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed" / "ckpt.pt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed.pt").exists()
    done = torch.load(ckpt, weights_only=False)["step"]
    total = int(metrics(tmp_path / "whole")[-1]["step"])
    assert 0 < done < total

    resumed = subprocess.run(script + args, env=env, capture_output=True, text=True, check=True)
    assert f"resumed from {ckpt} at step {done}" in resumed.stderr
    assert same_weights(tmp_path / "whole.pt", tmp_path / "killed.pt")
    assert [int(r["step"]) for r in metrics(tmp_path / "killed")] == list(range(1, total + 1))


def test_resume_refuses_a_run_folder_of_other_settings(tmp_path, probs_dir):
    train = {**TRAIN, "max_steps": 4}
    train_sbm(command(tmp_path, probs_dir, train=train))
    with pytest.raises(Exception, match="other settings"):
        train_sbm(command(tmp_path, probs_dir, train={**train, "muon_lr": 0.01}))


def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, probs_dir):
    """Two gloo processes with half the batch each take the same steps as one process (own
    forecasts fed to the same windows)."""
    model, train = (
        {**MODEL, "spatial": "dense"},
        {**TRAIN, "max_steps": 6, "own_forecasts": 0.5, "own_forecast_passes": 2},
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(REPO / "scripts/train_sbm.py")] + command(tmp_path, probs_dir, "one", model, train),
        check=True,
        env=env,
        capture_output=True,
    )
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(REPO / "scripts/train_sbm.py"),
        ]
        + command(tmp_path, probs_dir, "two", model, train),
        env=env,
        capture_output=True,
        text=True,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "on 2 process(es)" in ddp.stderr
    one, two = torch.load(tmp_path / "one.pt", weights_only=False), torch.load(tmp_path / "two.pt", weights_only=False)
    rows_one, rows_two = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_two]
    # Step 1's loss comes from the initial weights: the global batch, token-weighted, exactly.
    assert float(rows_two[0]["train_loss"]) == pytest.approx(float(rows_one[0]["train_loss"]), rel=1e-6)
    # Later steps agree to the precision of Muon's bf16 orthogonalisation, which turns summation-
    # order differences of the reduced gradients into bf16 rounding of the updates.
    for a, b in zip(rows_one, rows_two):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-3)
        if a["val_loss"]:
            assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-3)
    for k, a in one["model"].items():
        # Within about one bf16 eps (8e-3): 0.4-0.6 % measured on this CPU; a DDP fault (gradients
        # summed, not averaged, or a process's half dropped) moves the weights by tens of per cent.
        assert (two["model"][k] - a).norm() <= 1e-2 * a.norm(), k


def test_held_out_fish_in_training_is_an_error(tmp_path, probs_dir, capsys):
    leaky = {**SPLIT, "train": ["subject_1", "subject_5"]}
    assert run_script("train_sbm", command(tmp_path, probs_dir, split=leaky)) == 1
    assert "fish ['subject_5'] appear in both train and heldout" in capsys.readouterr().err


def test_fish_smaller_than_the_cluster_size_train(tmp_path, probs_dir):
    """Fish of 26-34 neurons with clusters of 27: each small fish is one cluster of all its neurons."""
    train_sbm(command(tmp_path, probs_dir, model={**MODEL, "cluster_size": 27}, train={**TRAIN, "max_steps": 2}))
    rows = metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows] == [1, 2] and all(np.isfinite(float(r["train_loss"])) for r in rows)


def test_a_ckpt_of_rebuilt_probs_files_is_not_resumed(tmp_path, probs_dir, caplog):
    data = tmp_path / "probs"
    shutil.copytree(probs_dir, data)
    train = {**TRAIN, "max_steps": 4}
    train_sbm(command(tmp_path, data, train=train))
    os.utime(data / "subject_2.h5", ns=(1, 1))  # as if the probabilities stage had rewritten it
    caplog.clear()
    train_sbm(command(tmp_path, data, train=train))
    assert "the probs files changed since this ckpt was written; training starts over" in caplog.text
    assert [int(r["step"]) for r in metrics(tmp_path / "run")] == [1, 2, 3, 4]


def test_a_run_whose_every_validation_is_nan_says_so(tmp_path, probs_dir, capsys):
    # The one step is taken from finite weights (a finite training loss) and leaves them non-finite,
    # so the validation after it, the only one, is NaN: no best weights exist.
    train = {**TRAIN, "max_steps": 1, "muon_lr": 1e36, "adamw_lr": 1e36}
    assert run_script("train_sbm", command(tmp_path, probs_dir, train=train)) == 1
    err = capsys.readouterr().err
    message = "no validation of the 1 steps gave a finite loss and MAE, so there are no best weights"
    assert f"{message}: lower the learning rates" in err
    assert not (tmp_path / "run.pt").exists()


def test_a_context_in_seconds_is_frames_at_the_training_fishs_rate_for_the_sbm_and_the_baselines(tmp_path, probs_dir):
    """Probs files at 2 Hz: a 3-second context is 6 frames for the SBM and the fitted baselines."""
    model = {**MODEL, "context_s": 3.0}
    train_sbm(command(tmp_path, probs_dir, model=model, train={**TRAIN, "epochs": 1}))
    net, state = load_weights(tmp_path / "run.pt")
    assert net.cfg.context == 6 and net.cfg.context_s is None and state["data"]["context_s"] == 3.0
    argv = command(tmp_path, probs_dir)
    argv = argv[: argv.index("--settings")]  # --split, --train and --val of the same split
    argv += ["--context", "12", "--context-s", "3", "--settings", '{"windows": 10, "steps": 100}']
    assert run_script("fit_forecasters", [*argv, "--out", tmp_path / "f.pt"]) == 0
    assert torch.load(tmp_path / "f.pt", weights_only=False)["info"]["context"] == 6


def test_own_forecasts_replace_a_suffix_of_the_chosen_windows_by_the_models_forecasts():
    torch.manual_seed(0)
    net = SBM(SBMConfig(n_stimuli=3, context=8, d_model=16, n_heads=2, n_layers=1, cluster_size=8)).eval()
    g = torch.Generator().manual_seed(0)
    B, C, N = 64, 8, 12
    prob = torch.rand(B, C, N, generator=g)
    stimulus = torch.nn.functional.one_hot(torch.randint(0, 3, (B, C), generator=g), 3).float()
    inputs = (prob, torch.rand(B, N, 3, generator=g), stimulus, torch.ones(B, N, dtype=torch.bool))
    assert with_own_forecasts(net, inputs, 0.0, torch.Generator().manual_seed(1)) is inputs
    fed = with_own_forecasts(net, inputs, 0.5, torch.Generator().manual_seed(1))[0]
    forecast = torch.sigmoid(net(*inputs))  # forecast[:, t] is that of frame t + 1
    replaced = (fed != prob).any(dim=2)  # (B, C)
    assert not replaced[:, 0].any()  # the first frame is always read as recorded
    torch.testing.assert_close(fed[:, 1:][replaced[:, 1:]], forecast[:, :-1][replaced[:, 1:]])
    torch.testing.assert_close(fed[~replaced], prob[~replaced])
    chosen = replaced.any(dim=1)
    assert 16 < int(chosen.sum()) < 48  # about half the windows
    lengths = replaced.sum(dim=1)[chosen]
    assert (replaced[chosen].int().diff(dim=1) >= 0).all()  # a suffix: once replaced, replaced to the end
    assert lengths.min() >= 1 and lengths.max() <= C - 1 and len(set(lengths.tolist())) > 3


def test_own_forecasts_after_enough_passes_are_the_models_free_rollout():
    torch.manual_seed(0)
    C, N = 8, 12
    net = SBM(SBMConfig(n_stimuli=3, context=C, d_model=16, n_heads=2, n_layers=1, cluster_size=8)).eval()
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(16, C, N, generator=g)
    stimulus = torch.nn.functional.one_hot(torch.randint(0, 3, (16, C), generator=g), 3).float()
    inputs = (prob, torch.rand(16, N, 3, generator=g), stimulus, torch.ones(16, N, dtype=torch.bool))
    one = with_own_forecasts(net, inputs, 1.0, torch.Generator().manual_seed(1))[0]
    fed = with_own_forecasts(net, inputs, 1.0, torch.Generator().manual_seed(1), passes=C - 1)[0]
    k = (fed != prob).any(dim=2).sum(dim=1)
    assert torch.equal(k, (one != prob).any(dim=2).sum(dim=1))  # the same draws, whatever the passes
    deep = 0
    for b in range(16):
        free = prob[b : b + 1].clone()  # the free rollout from the recorded frames before the last k
        for t in range(C - int(k[b]), C):
            free[:, t] = torch.sigmoid(net(free, *(x[b : b + 1] for x in inputs[1:])))[:, t - 1]
        torch.testing.assert_close(fed[b], free[0])
        deep += int(k[b] > 1 and not torch.allclose(one[b], free[0]))
    assert deep > 0  # one pass reads recorded frames only: deeper frames differ from the rollout


def test_training_sets_prob_scale_to_the_training_fishs_mean_probability(tmp_path, probs_dir):
    train_sbm(command(tmp_path, probs_dir, train={**TRAIN, "epochs": 1, "own_forecasts": 0.5}))
    model, state = load_weights(tmp_path / "run.pt")
    assert model.cfg.prob_scale == pytest.approx(state["data"]["train_mean_prob"]) and 0 < model.cfg.prob_scale < 1


def test_snapshots_keep_the_weights_of_every_validation_step(tmp_path, probs_dir):
    """sbm.train.snapshots: the learning curves' weights, one file per validation step, each loadable
    as the evaluations load the final weights, the best one equal to the final weights."""
    from sbm.eval.load import load_evaluated

    assert train_sbm(command(tmp_path, probs_dir, train={**TRAIN, "snapshots": True})) is None
    steps = [int(r["step"]) for r in metrics(tmp_path / "run") if r["val_loss"]]
    kept = sorted(tmp_path.glob("run/weights-step*.pt"))
    assert [int(p.stem.removeprefix("weights-step")) for p in kept] == steps
    best = load_weights(tmp_path / "run.pt")[1]["training"]["best"]["step"]
    assert same_weights(tmp_path / f"run/weights-step{best:06d}.pt", tmp_path / "run.pt")
    load_evaluated(kept[0], None, ["subject_5"])
    with pytest.raises(Exception, match="held-out fish"):
        load_evaluated(kept[0], None, ["subject_3"])
