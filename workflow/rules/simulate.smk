# The simulated fish, written in the exact Chen et al. 2018 layout plus a ground-truth file.


rule simulate:
    input:
        script=script("simulate_fish.py"),
        code=code("simulate_fish.py"),
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
        args=cli(settings=config["synthetic"]),
    shell:
        "python {input.script:q} {params.args} > {log:q} 2>&1"
