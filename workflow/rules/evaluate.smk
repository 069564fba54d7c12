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
        script=script("evaluate_next_step.py"),
        code=code("evaluate_next_step.py"),
    output:
        metrics=f"{RESULTS}/eval/next_step.json",
        states=f"{RESULTS}/eval/next_step_states.h5",
    log:
        f"{LOGS}/evaluate_next_step.log",
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        args=cli(
            stride=config["sbm"]["evaluate"]["stride"],
            batch_size=config["sbm"]["evaluate"]["batch_size"],
            keep_states=config["sbm"]["evaluate"]["fidelity_states"],
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule evaluate_rollout:
    input:
        **peers(),
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        # Simulated fish: every forecast is also scored against the simulator's truth.
        truth=truth_of("heldout"),
        script=script("evaluate_rollout.py"),
        code=code("evaluate_rollout.py"),
    output:
        metrics=f"{RESULTS}/eval/rollout.json",
        example=f"{RESULTS}/eval/rollout_example.h5",
    log:
        f"{LOGS}/evaluate_rollout.log",
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        args=cli(
            horizon=config["sbm"]["evaluate"]["rollout_horizon"],
            starts=config["sbm"]["evaluate"]["rollout_starts"],
            batch_size=config["sbm"]["evaluate"]["batch_size"],
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


# The trained SBM taken to each held-out fish: fine-tuned on its first minutes, scored on the rest.
rule adapt:
    input:
        weights=rules.train_sbm.output.out,
        forecasters=rules.fit_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        script=script("adapt_sbm.py"),
        code=code("adapt_sbm.py"),
    output:
        out=f"{RESULTS}/eval/adapt.json",
    log:
        f"{LOGS}/adapt.log",
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        args=cli(
            settings=config["sbm"]["adapt"],
            baselines=config["baselines"],
            evaluate={k: config["sbm"]["evaluate"][k] for k in ("stride", "rollout_horizon", "rollout_starts")},
            batch_size=config["sbm"]["evaluate"]["batch_size"],
            run_dir=adapt_run_dir(),
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


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
        script=script("insilico.py"),
        code=code("insilico.py"),
    output:
        metrics=f"{RESULTS}/eval/insilico.json",
        responses=f"{RESULTS}/eval/insilico_responses.h5",
    log:
        f"{LOGS}/insilico.log",
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        args=cli(
            settings=config["insilico"],
            simulator=config["synthetic"] if config["source"] == "synthetic" else {},
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


# The experiments to explore in a browser: one self-contained HTML page, no server.
rule insilico_page:
    input:
        metrics=rules.insilico.output.metrics,
        responses=rules.insilico.output.responses,
        script=script("insilico_page.py"),
        code=code("insilico_page.py"),
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
        args=cli(),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule evaluate_fidelity:
    input:
        states=rules.evaluate_next_step.output.states,
        script=script("evaluate_fidelity.py"),
        code=code("evaluate_fidelity.py"),
    output:
        metrics=f"{RESULTS}/eval/fidelity.json",
        embedding=f"{RESULTS}/eval/embedding.csv",
    log:
        f"{LOGS}/evaluate_fidelity.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        args=cli(components=config["sbm"]["evaluate"]["fidelity_components"]),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule evaluate_connectome:
    input:
        weights=rules.train_sbm.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
        # The simulator's wiring: there is no such truth for real fish.
        truth=truth_of("heldout"),
        script=script("evaluate_connectome.py"),
        code=code("evaluate_connectome.py"),
    output:
        out=f"{RESULTS}/eval/connectome.json",
    log:
        f"{LOGS}/evaluate_connectome.log",
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        args=cli(windows=config["sbm"]["evaluate"]["connectome_windows"]),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule evaluate:
    input:
        evaluation_outputs().values(),
        rules.insilico.output,
