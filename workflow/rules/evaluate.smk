# Evaluation on the held-out fish only, beside baselines measured in the same run; every number
# lands in results/<dataset>/eval/ before a figure draws it. `snakemake evaluate` runs them all.


rule evaluate_next_step:
    input:
        **peers(),
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        # Simulated fish: every forecast is also scored against the simulator's truth.
        truth=truth_of("heldout"),
    output:
        metrics=f"{RESULTS}/eval/next_step.json",
        states=f"{RESULTS}/eval/next_step_states.h5",
    log:
        f"{LOGS}/evaluate_next_step.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_next_step.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        **job(
            "evaluate_next_step.py",
            stride=setting("sbm.evaluate.stride"),
            batch_size=setting("sbm.evaluate.batch_size"),
            keep_states=setting("sbm.evaluate.fidelity_states"),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule evaluate_rollout:
    input:
        **peers(),
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        # Simulated fish: every forecast is also scored against the simulator's truth.
        truth=truth_of("heldout"),
    output:
        metrics=f"{RESULTS}/eval/rollout.json",
        example=f"{RESULTS}/eval/rollout_example.h5",
    log:
        f"{LOGS}/evaluate_rollout.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_rollout.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        **job(
            "evaluate_rollout.py",
            horizon=setting("sbm.evaluate.rollout_horizon"),
            starts=setting("sbm.evaluate.rollout_starts"),
            batch_size=setting("sbm.evaluate.batch_size"),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


# The trained SBM taken to each held-out fish: fine-tuned on its first minutes, scored on the rest.
rule adapt:
    input:
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
    output:
        out=f"{RESULTS}/eval/adapt.json",
    log:
        f"{LOGS}/adapt.log",
    benchmark:
        f"{RESULTS}/benchmarks/adapt.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        **job(
            "adapt_sbm.py",
            settings=setting("sbm.adapt"),
            baselines=setting("baselines"),
            evaluate={k: setting(f"sbm.evaluate.{k}") for k in ("stride", "rollout_horizon", "rollout_starts")},
            batch_size=setting("sbm.evaluate.batch_size"),
            run_dir=adapt_run_dir(),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


# In-silico optogenetics: every population (simulated fish) or region excited and silenced inside
# rollouts; on simulated fish scored against the simulator's replay of the same experiments. It
# reads the PNMs (the behaviour under each experiment), so a dataset whose behaviour fails stops it
# and its figure and page, not figures 1-2; `pnm.behaviors: []` runs it without.
rule insilico:
    input:
        **peers(),
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        truth=truth_of("heldout"),
        # Simulated fish: the training fish and their populations fit the lag-1 baseline.
        train=probs_of("train") if config["source"] == "synthetic" else [],
        train_truth=truth_of("train"),
        pnm=pnm_models() if BEHAVIOR else [],
    output:
        metrics=f"{RESULTS}/eval/insilico.json",
        responses=f"{RESULTS}/eval/insilico_responses.h5",
    log:
        f"{LOGS}/insilico.log",
    benchmark:
        f"{RESULTS}/benchmarks/insilico.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        **job(
            "insilico.py",
            settings=setting("insilico"),
            simulator=setting("synthetic") if config["source"] == "synthetic" else {},
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


# The experiments to explore in a browser: one self-contained HTML page, no server.
rule insilico_page:
    input:
        metrics=rules.insilico.output.metrics,
        responses=rules.insilico.output.responses,
    output:
        out=f"{RESULTS}/insilico.html",
    log:
        f"{LOGS}/insilico_page.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **job("insilico_page.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule evaluate_fidelity:
    input:
        states=rules.evaluate_next_step.output.states,
    output:
        metrics=f"{RESULTS}/eval/fidelity.json",
        embedding=f"{RESULTS}/eval/embedding.csv",
    log:
        f"{LOGS}/evaluate_fidelity.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_fidelity.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        **job("evaluate_fidelity.py", components=setting("sbm.evaluate.fidelity_components")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule evaluate_connectome:
    input:
        weights=rules.train_sbm.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        # The simulator's wiring: there is no such truth for real fish.
        truth=truth_of("heldout"),
    output:
        out=f"{RESULTS}/eval/connectome.json",
    log:
        f"{LOGS}/evaluate_connectome.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_connectome.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        **job("evaluate_connectome.py", windows=setting("sbm.evaluate.connectome_windows")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule evaluate:
    input:
        evaluation_outputs().values(),
        rules.insilico.output,
