# Evaluation on the held-out fish only, beside baselines measured in the same run; every number
# lands in results/<dataset>/eval/ before a figure draws it. `snakemake evaluate` runs them all.


rule evaluate_next_step:
    input:
        weights=f"{RESULTS}/sbm/weights.pt",
        forecasters=f"{RESULTS}/baselines/forecasters.pt",
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("heldout"),
        code=code("evaluate_next_step.py"),
    output:
        metrics=f"{RESULTS}/eval/next_step.json",
        states=f"{RESULTS}/eval/next_step_states.h5",
    params:
        script=script("evaluate_next_step.py"),
        probs_dir=f"{RESULTS}/probs",
        stride=config["sbm"]["evaluate"]["stride"],
        batch_size=config["sbm"]["evaluate"]["batch_size"],
        keep_states=config["sbm"]["evaluate"]["fidelity_states"],
    conda:
        ENV
    log:
        f"{LOGS}/evaluate_next_step.log",
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --weights {input.weights:q} --forecasters {input.forecasters:q} --split {input.split:q} --probs-dir {params.probs_dir:q} "
        "--stride {params.stride} --batch-size {params.batch_size} --threads {threads} --keep-states {params.keep_states} "
        "--states-out {output.states:q} --out {output.metrics:q} > {log:q} 2>&1"


rule evaluate_rollout:
    input:
        weights=f"{RESULTS}/sbm/weights.pt",
        forecasters=f"{RESULTS}/baselines/forecasters.pt",
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("heldout"),
        code=code("evaluate_rollout.py"),
    output:
        metrics=f"{RESULTS}/eval/rollout.json",
        example=f"{RESULTS}/eval/rollout_example.h5",
    params:
        script=script("evaluate_rollout.py"),
        probs_dir=f"{RESULTS}/probs",
        horizon=config["sbm"]["evaluate"]["rollout_horizon"],
        starts=config["sbm"]["evaluate"]["rollout_starts"],
        batch_size=config["sbm"]["evaluate"]["batch_size"],
    conda:
        ENV
    log:
        f"{LOGS}/evaluate_rollout.log",
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --weights {input.weights:q} --forecasters {input.forecasters:q} --split {input.split:q} "
        "--probs-dir {params.probs_dir:q} --horizon {params.horizon} --starts {params.starts} --batch-size {params.batch_size} "
        "--threads {threads} --example-out {output.example:q} --out {output.metrics:q} > {log:q} 2>&1"


rule evaluate_fidelity:
    input:
        states=f"{RESULTS}/eval/next_step_states.h5",
        code=code("evaluate_fidelity.py"),
    output:
        metrics=f"{RESULTS}/eval/fidelity.json",
        embedding=f"{RESULTS}/eval/embedding.csv",
    params:
        script=script("evaluate_fidelity.py"),
        components=config["sbm"]["evaluate"]["fidelity_components"],
    conda:
        ENV
    log:
        f"{LOGS}/evaluate_fidelity.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python {params.script:q} --states {input.states:q} --components {params.components} --out {output.metrics:q} "
        "--embedding-out {output.embedding:q} > {log:q} 2>&1"


rule evaluate_connectome:
    input:
        weights=f"{RESULTS}/sbm/weights.pt",
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("heldout"),
        # The simulator's wiring: there is no such truth for real fish.
        truth=lambda wildcards: expand(raw("ground_truth.h5", "{subject}"), subject=subject_split().heldout),
        code=code("evaluate_connectome.py"),
    output:
        f"{RESULTS}/eval/connectome.json",
    params:
        script=script("evaluate_connectome.py"),
        probs_dir=f"{RESULTS}/probs",
        truth_dir=RAW,
        windows=config["sbm"]["evaluate"]["connectome_windows"],
    conda:
        ENV
    log:
        f"{LOGS}/evaluate_connectome.log",
    threads: ALL_CORES
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python {params.script:q} --weights {input.weights:q} --split {input.split:q} --probs-dir {params.probs_dir:q} "
        "--ground-truth-dir {params.truth_dir:q} --windows {params.windows} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule evaluate:
    input:
        evaluation_outputs(),
