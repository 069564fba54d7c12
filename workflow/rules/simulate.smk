# The simulated fish, written in the exact Chen et al. 2018 layout plus a ground-truth file.


rule simulate:
    output:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
        ground_truth=raw("ground_truth.h5"),
    log:
        f"{LOGS}/simulate/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate/{{subject}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        **job("simulate_fish.py", settings=setting("synthetic")),
    shell:
        "python {params.command} > {log:q} 2>&1"
