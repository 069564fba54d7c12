# Causal spike inference (rates: expected spikes per frame) and spike probabilities.


rule download_ground_truth:
    output:
        manifest=f"{GROUND_TRUTH_DIR}/manifest.json",
    log:
        "logs/cascade_ground_truth.log",
    benchmark:
        f"{GROUND_TRUTH_DIR}/download.benchmark.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        **job(
            "download_ground_truth.py",
            code=False,
            repo=setting("spikes.ground_truth_repo"),
            ref=setting("spikes.ground_truth_ref"),
            path=setting("spikes.ground_truth_path"),
            datasets=setting("spikes.ground_truth_datasets"),
            out_dir=GROUND_TRUTH_DIR,
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule spike_model:
    input:
        manifest=ground_truth_inputs,
    output:
        out=f"{SPIKE_MODELS}/fps{{fps}}.pt",
    log:
        f"{SPIKE_MODELS}/fps{{fps}}.log",
    benchmark:
        f"{SPIKE_MODELS}/fps{{fps}}.benchmark.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        # The manifest is the download's mark of completion: the model reads the folder beside it.
        # Where the ground truth lies is not recorded: the folder of the models is keyed by its
        # content. spikes.method auto reads the benchmark's results, recorded by their content.
        **job(
            "train_spike_model.py",
            untracked=("ground_truth_dir", "benchmark"),
            reads=[SPIKE_BENCHMARK] if config["spikes"]["method"] == "auto" else [],
            source="synthetic" if config["source"] == "synthetic" else "cascade",
            ground_truth_dir=None if config["source"] == "synthetic" else GROUND_TRUTH_DIR,
            datasets=[] if config["source"] == "synthetic" else setting("spikes.ground_truth_datasets"),
            settings=spike_model_settings(config),
            synthetic=setting("synthetic") if config["source"] == "synthetic" else {},
            dff=setting("dff"),
            benchmark=SPIKE_BENCHMARK if config["spikes"]["method"] == "auto" else None,
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule spikes:
    input:
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        model=spike_model_for,
    output:
        out=f"{RESULTS}/rates/{{subject}}.h5",
    log:
        f"{LOGS}/spikes/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/spikes/{{subject}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        **job("infer_spikes.py", fps_tolerance=setting("spikes.fps_tolerance")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule probabilities:
    input:
        rates=f"{RESULTS}/rates/{{subject}}.h5",
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        # The known-answer ladder (probabilities.inputs or .targets truth): the simulator's truth.
        truth=raw("ground_truth.h5") if "truth" in config["probabilities"].values() else [],
    output:
        out=f"{RESULTS}/probs/{{subject}}.h5",
    log:
        f"{LOGS}/probabilities/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/probabilities/{{subject}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        **job(
            "spike_probabilities.py", inputs=setting("probabilities.inputs"), targets=setting("probabilities.targets")
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


# Every fish's spike probabilities beside what to check them against (the report's figure).
rule spike_probability_figure:
    input:
        probs=expand(f"{RESULTS}/probs/{{subject}}.h5", subject=SUBJECTS),
        ground_truth=(
            expand(raw("ground_truth.h5", "{subject}"), subject=SUBJECTS) if config["source"] == "synthetic" else []
        ),
    output:
        summary=f"{RESULTS}/qc/spike_probabilities.json",
        figure=report(
            f"{RESULTS}/figures/spike_probabilities.png",
            caption="../report/spike_probabilities.rst",
            category="Spike inference",
        ),
    log:
        f"{LOGS}/spike_probability_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/spike_probability_figure.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        **job("spike_probability_qc.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"
