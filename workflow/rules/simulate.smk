# The simulated fish, written in the exact Chen et al. 2018 layout plus a ground-truth file.


rule simulate:
    input:
        code=code("simulate_fish.py"),
    output:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
        ground_truth=raw("ground_truth.h5"),
    params:
        script=script("simulate_fish.py"),
        settings=settings("synthetic"),
        out_dir=raw_folder,
    conda:
        ENV
    log:
        f"{LOGS}/simulate/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate/{{subject}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "python {params.script:q} --subject {wildcards.subject} --out-dir {params.out_dir:q} "
        "--settings {params.settings:q} > {log:q} 2>&1"
