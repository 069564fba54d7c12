# The Sparse Brain Model: subject split, training, and the baseline forecasters it is measured against.


rule split:
    input:
        # Every fish's neuron count is checked against the SBM's cluster size before any training.
        probs=expand(f"{RESULTS}/probs/{{subject}}.h5", subject=SUBJECTS),
        code=code("split_subjects.py"),
    output:
        f"{RESULTS}/split.yaml",
    params:
        script=script("split_subjects.py"),
        subjects=SUBJECTS,
        settings=settings("split"),
        cluster_size=config["sbm"]["model"]["cluster_size"] if config["sbm"]["model"]["spatial"] == "routed" else 0,
    conda:
        ENV
    log:
        f"{LOGS}/split.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python {params.script:q} --subjects {params.subjects} --settings {params.settings:q} "
        "--probs {input.probs:q} --cluster-size {params.cluster_size} --out {output:q} > {log:q} 2>&1"


rule train_sbm:
    input:
        split=f"{RESULTS}/split.yaml",
        # Training and validation fish only: the held-out fish is not even an input.
        probs=probs_of("train", "val"),
        code=code("train_sbm.py"),
    output:
        f"{RESULTS}/sbm/weights.pt",
    params:
        launcher=launcher,
        script=script("train_sbm.py"),
        probs_dir=f"{RESULTS}/probs",
        settings=sbm_settings(),
        # ckpts and metrics: not declared as outputs, so a rerun after an interruption resumes.
        run_dir=sbm_run_dir(),
    conda:
        ENV
    log:
        f"{LOGS}/train_sbm.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_sbm.tsv"
    threads: ALL_CORES
    resources:
        mem_mb=16000,
        runtime=24 * 60,
        gpu=1,
    shell:
        "{params.launcher} {params.script:q} --split {input.split:q} --probs-dir {params.probs_dir:q} "
        "--settings {params.settings:q} --run-dir {params.run_dir:q} --threads {threads} --no-progress "
        "--out {output:q} > {log:q} 2>&1"


rule fit_baselines:
    input:
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("train", "val"),
        code=code("fit_forecasters.py"),
    output:
        f"{RESULTS}/baselines/forecasters.pt",
    params:
        script=script("fit_forecasters.py"),
        probs_dir=f"{RESULTS}/probs",
        context=config["sbm"]["model"]["context"],
        settings=settings("baselines"),
    conda:
        ENV
    log:
        f"{LOGS}/fit_baselines.log",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python {params.script:q} --split {input.split:q} --probs-dir {params.probs_dir:q} --context {params.context} "
        "--settings {params.settings:q} --threads {threads} --out {output:q} > {log:q} 2>&1"
