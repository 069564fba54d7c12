# The Sparse Brain Model: subject split, training, and the forecasters it is measured against:
# the fitted baselines, POCO and the SBM without spatial attention, on the same fish.


rule split:
    input:
        script=script("split_subjects.py"),
        code=code("split_subjects.py"),
    output:
        out=f"{RESULTS}/split.yaml",
    log:
        f"{LOGS}/split.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        args=cli(subjects=SUBJECTS, settings=config["split"]),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule train_sbm:
    input:
        split=rules.split.output.out,
        # Training and validation fish only: the held-out fish is not even an input.
        train=probs_of("train"),
        val=probs_of("val"),
        script=script("train_sbm.py"),
        code=code("train_sbm.py"),
    output:
        out=f"{RESULTS}/sbm/weights.pt",
    log:
        f"{LOGS}/train_sbm.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_sbm.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=16000,
        runtime=24 * 60,
        gpu=1,
    params:
        launcher=launcher,
        # ckpts and metrics: not declared as outputs, so a rerun after an interruption resumes.
        args=cli(settings=sbm_settings(), run_dir=sbm_run_dir()),
    shell:
        "{params.launcher} {input.script:q} {params.args} > {log:q} 2>&1"


# The ablation: the same model, settings and budget, each neuron attending to itself and the
# stimulus only, so the tables show what reading other neurons buys.
use rule train_sbm as train_sbm_no_spatial with:
    output:
        out=f"{RESULTS}/sbm_no_spatial/weights.pt",
    log:
        f"{LOGS}/train_sbm_no_spatial.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_sbm_no_spatial.tsv"
    params:
        launcher=launcher,
        args=cli(settings=sbm_settings("none"), run_dir=sbm_run_dir("none", "sbm_no_spatial")),


rule train_poco:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
        script=script("train_poco.py"),
        code=code("train_poco.py"),
    output:
        out=f"{RESULTS}/poco/weights.pt",
    log:
        f"{LOGS}/train_poco.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_poco.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=12 * 60,
    params:
        args=cli(
            context=config["sbm"]["model"]["context"],
            context_s=config["sbm"]["model"]["context_s"],
            settings=config["poco"],
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule fit_baselines:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
        # Simulated fish: the truth of the training and validation fish fits the ceiling.
        truth=truth_of("train", "val"),
        script=script("fit_forecasters.py"),
        code=code("fit_forecasters.py"),
    output:
        out=f"{RESULTS}/baselines/forecasters.pt",
    log:
        f"{LOGS}/fit_baselines.log",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        args=cli(
            context=config["sbm"]["model"]["context"],
            context_s=config["sbm"]["model"]["context_s"],
            settings=config["baselines"],
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"
