# Causal spike inference (rates: expected spikes per frame) and spike probabilities.


rule download_ground_truth:
    output:
        manifest=f"{GROUND_TRUTH_DIR}/manifest.json",
    log:
        "logs/cascade_ground_truth.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        script=script("download_ground_truth.py"),
        args=cli(
            repo=config["spikes"]["ground_truth_repo"],
            ref=config["spikes"]["ground_truth_ref"],
            path=config["spikes"]["ground_truth_path"],
            datasets=config["spikes"]["ground_truth_datasets"],
            out_dir=GROUND_TRUTH_DIR,
        ),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"


rule spike_model:
    input:
        manifest=ground_truth_inputs,
        benchmark=spike_benchmark,
        script=script("train_spike_model.py"),
        code=code("train_spike_model.py"),
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
        args=cli(
            source=spike_model_source(),
            ground_truth_dir=GROUND_TRUTH_DIR,
            datasets=config["spikes"]["ground_truth_datasets"],
            settings=config["spikes"],
            synthetic=config["synthetic"],
            dff=config["dff"],
        ),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule spikes:
    input:
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        model=spike_model_for,
        script=script("infer_spikes.py"),
        code=code("infer_spikes.py"),
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
        args=cli(fps_tolerance=config["spikes"]["fps_tolerance"]),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


rule probabilities:
    input:
        rates=f"{RESULTS}/rates/{{subject}}.h5",
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        script=script("spike_probabilities.py"),
        code=code("spike_probabilities.py"),
    output:
        out=f"{RESULTS}/probs/{{subject}}.h5",
    log:
        f"{LOGS}/probabilities/{{subject}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        args=cli(),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"


# Every fish's spike probabilities beside what to check them against (the report's figure).
rule spike_probability_figure:
    input:
        probs=expand(f"{RESULTS}/probs/{{subject}}.h5", subject=SUBJECTS),
        ground_truth=(
            expand(raw("ground_truth.h5", "{subject}"), subject=SUBJECTS) if config["source"] == "synthetic" else []
        ),
        script=script("spike_probability_qc.py"),
        code=code("spike_probability_qc.py"),
    output:
        summary=f"{RESULTS}/qc/spike_probabilities.json",
        figure=report(
            f"{RESULTS}/figures/spike_probabilities.png",
            caption="../report/spike_probabilities.rst",
            category="Spike inference",
        ),
    log:
        f"{LOGS}/spike_probability_figure.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        args=cli(),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"
