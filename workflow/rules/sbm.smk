# The Sparse Brain Model: subject split, training, and the forecasters it is measured against:
# the fitted baselines, POCO and the SBM without spatial attention, on the same fish.


rule split:
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
        **job("split_subjects.py", subjects=setting("subjects"), settings=setting("split")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule train_sbm:
    input:
        split=rules.split.output.out,
        # Training and validation fish only: the held-out fish is not even an input.
        train=probs_of("train"),
        val=probs_of("val"),
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
        # run_dir: ckpts and metrics, not declared as outputs, so a rerun after an interruption resumes.
        **job("train_sbm.py", settings=sbm_settings(), run_dir=sbm_run_dir()),
        launcher=launcher,
    shell:
        "{params.launcher} {params.command} > {log:q} 2>&1"


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
        **job("train_sbm.py", settings=sbm_settings("none"), run_dir=sbm_run_dir("none", "sbm_no_spatial")),
        launcher=launcher,


rule train_poco:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
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
        **job(
            "train_poco.py",
            context=setting("sbm.model.context"),
            context_s=setting("sbm.model.context_s"),
            settings=setting("poco"),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule fit_baselines:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
        # Simulated fish: the truth of the training and validation fish fits the ceiling.
        truth=truth_of("train", "val"),
    output:
        out=f"{RESULTS}/baselines/forecasters.pt",
    log:
        f"{LOGS}/fit_baselines.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit_baselines.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        **job(
            "fit_forecasters.py",
            context=setting("sbm.model.context"),
            context_s=setting("sbm.model.context_s"),
            settings=setting("baselines"),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"
