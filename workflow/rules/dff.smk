# DF/F with a causal baseline, on one stimulus vocabulary shared by every fish of the dataset.
# Sources table and nwb: each fish's file enters where its kind of activity does (common.smk ENTRY):
# at DF/F (fluorescence, or DF/F taken as it is) or, for activity already in [0, 1], at the probs.


if config["source"] in RECORDING_SOURCES:

    rule stimulus_vocabulary:
        input:
            recordings=list(RECORDINGS.values()),
        output:
            out=f"{RESULTS}/stimulus_vocabulary.json",
        log:
            f"{LOGS}/stimulus_vocabulary.log",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            **job("stimulus_vocabulary.py", names=setting("stimulus_names"), nwb=setting("nwb")),
        shell:
            "python {params.command} > {log:q} 2>&1"

    checkpoint import_recording:
        input:
            recording=lambda wildcards: RECORDINGS[wildcards.subject],
            vocabulary=rules.stimulus_vocabulary.output.out,
        output:
            out=f"{RESULTS}/{ENTRY}/{{subject}}.h5",
        log:
            f"{LOGS}/{ENTRY}/{{subject}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/{ENTRY}/{{subject}}.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=lambda wildcards, input: int(2000 + 3 * input.size_mb),
            runtime=120,
        params:
            **job("import_recording.py", nwb=setting("nwb"), entry=ENTRY, dff=setting("dff")),
        shell:
            "python {params.command} > {log:q} 2>&1"

else:

    rule stimulus_vocabulary:
        input:
            data_full=expand(raw("data_full.mat", "{subject}"), subject=SUBJECTS),
        output:
            out=f"{RESULTS}/stimulus_vocabulary.json",
        log:
            f"{LOGS}/stimulus_vocabulary.log",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            **job("stimulus_vocabulary.py", names=setting("stimulus_names")),
        shell:
            "python {params.command} > {log:q} 2>&1"

    checkpoint dff:
        input:
            timeseries=raw("TimeSeries.h5"),
            data_full=raw("data_full.mat"),
            vocabulary=rules.stimulus_vocabulary.output.out,
        output:
            out=f"{RESULTS}/dff/{{subject}}.h5",
        log:
            f"{LOGS}/dff/{{subject}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/dff/{{subject}}.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            **job("compute_dff.py", reader=setting("reader"), dff=setting("dff")),
        shell:
            "python {params.command} > {log:q} 2>&1"


rule synthetic_qc:
    input:
        dff=expand(f"{RESULTS}/dff/{{subject}}.h5", subject=SUBJECTS),
        ground_truth=expand(raw("ground_truth.h5", "{subject}"), subject=SUBJECTS),
    output:
        out=f"{RESULTS}/qc/dff_vs_truth.csv",
    log:
        f"{LOGS}/synthetic_qc.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthetic_qc.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        **job("synthetic_qc.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"
