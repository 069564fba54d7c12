# DF/F with a causal baseline, on one stimulus vocabulary shared by every fish of the dataset.


rule stimulus_vocabulary:
    input:
        data_full=expand(raw("data_full.mat", "{subject}"), subject=SUBJECTS),
        code=code("stimulus_vocabulary.py"),
    output:
        f"{RESULTS}/stimulus_vocabulary.json",
    params:
        script=script("stimulus_vocabulary.py"),
        names=json.dumps(config["stimulus_names"]),
    conda:
        ENV
    log:
        f"{LOGS}/stimulus_vocabulary.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python {params.script:q} --data-full {input.data_full:q} --names {params.names:q} "
        "--out {output:q} > {log:q} 2>&1"


checkpoint dff:
    input:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
        vocabulary=rules.stimulus_vocabulary.output[0],
        code=code("compute_dff.py"),
    output:
        f"{RESULTS}/dff/{{subject}}.h5",
    params:
        script=script("compute_dff.py"),
        reader=settings("reader"),
        dff=settings("dff"),
        raw_folder=raw_folder,
    conda:
        ENV
    log:
        f"{LOGS}/dff/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/dff/{{subject}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --raw-dir {params.raw_folder:q} --subject {wildcards.subject} "
        "--vocabulary {input.vocabulary:q} --reader {params.reader:q} --dff {params.dff:q} "
        "--out {output:q} > {log:q} 2>&1"


rule synthetic_qc:
    input:
        dff=expand(f"{RESULTS}/dff/{{subject}}.h5", subject=SUBJECTS),
        ground_truth=expand(raw("ground_truth.h5", "{subject}"), subject=SUBJECTS),
        code=code("synthetic_qc.py"),
    output:
        f"{RESULTS}/qc/dff_vs_truth.csv",
    params:
        script=script("synthetic_qc.py"),
    conda:
        ENV
    log:
        f"{LOGS}/synthetic_qc.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python {params.script:q} --dff {input.dff:q} --ground-truth {input.ground_truth:q} "
        "--out {output:q} > {log:q} 2>&1"
