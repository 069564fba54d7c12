# Causal spike inference (rates: expected spikes per frame) and spike probabilities.


rule download_ground_truth:
    output:
        f"{GROUND_TRUTH_DIR}/manifest.json",
    params:
        script=script("download_ground_truth.py"),
        repo=config["spikes"]["ground_truth_repo"],
        ref=config["spikes"]["ground_truth_ref"],
        path=config["spikes"]["ground_truth_path"],
        datasets=config["spikes"]["ground_truth_datasets"],
        out_dir=output_folder,
    conda:
        ENV
    log:
        "logs/cascade_ground_truth.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    shell:
        "python {params.script:q} --repo {params.repo:q} --ref {params.ref:q} --path {params.path:q} "
        "--datasets {params.datasets:q} --out-dir {params.out_dir:q} --manifest {output:q} > {log:q} 2>&1"


rule spike_model:
    input:
        ground_truth_inputs,
        code=code("train_spike_model.py"),
    output:
        f"{SPIKE_MODELS}/fps{{fps}}.pt",
    params:
        script=script("train_spike_model.py"),
        source=spike_model_source(),
        ground_truth_dir=GROUND_TRUTH_DIR,
        datasets=config["spikes"]["ground_truth_datasets"],
        settings=settings("spikes"),
        synthetic=settings("synthetic"),
        dff=settings("dff"),
    conda:
        ENV
    log:
        f"{SPIKE_MODELS}/fps{{fps}}.log",
    benchmark:
        f"{SPIKE_MODELS}/fps{{fps}}.benchmark.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "python {params.script:q} --fps {wildcards.fps} --source {params.source} "
        "--ground-truth-dir {params.ground_truth_dir:q} --datasets {params.datasets:q} "
        "--settings {params.settings:q} --synthetic {params.synthetic:q} --dff {params.dff:q} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule spikes:
    input:
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        model=spike_model_for,
        code=code("infer_spikes.py"),
    output:
        f"{RESULTS}/rates/{{subject}}.h5",
    params:
        script=script("infer_spikes.py"),
        tolerance=config["spikes"]["fps_tolerance"],
    conda:
        ENV
    log:
        f"{LOGS}/spikes/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/spikes/{{subject}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --dff {input.dff:q} --model {input.model:q} "
        "--fps-tolerance {params.tolerance} --threads {threads} --out {output:q} > {log:q} 2>&1"


rule probabilities:
    input:
        rates=f"{RESULTS}/rates/{{subject}}.h5",
        dff=f"{RESULTS}/dff/{{subject}}.h5",
        code=code("spike_probabilities.py"),
    output:
        f"{RESULTS}/probs/{{subject}}.h5",
    params:
        script=script("spike_probabilities.py"),
    conda:
        ENV
    log:
        f"{LOGS}/probabilities/{{subject}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python {params.script:q} --rates {input.rates:q} --dff {input.dff:q} --out {output:q} > {log:q} 2>&1"
