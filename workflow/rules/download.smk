# The Chen et al. 2018 recordings from figshare: one listing, then one verified download per fish.
# No code inputs: the data does not change with the downloader's code.


rule figshare_listing:
    output:
        out=f"resources/{DATASET}/figshare_listing.json",
    log:
        f"{LOGS}/download/listing.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("list_figshare.py"),
        args=cli(**{k: config["download"][k] for k in ("api_url", "article_id", "retries", "backoff_s")}),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"


rule download:
    input:
        listing=rules.figshare_listing.output.out,
    output:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
    log:
        f"{LOGS}/download/{{subject}}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=600,
    params:
        script=script("download_chen2018.py"),
        args=cli(
            pattern=config["download"]["subject_pattern"],
            download_dir=f"resources/{DATASET}/archives",
            keep_archive=config["download"]["keep_archives"],
            retries=config["download"]["retries"],
            backoff_s=config["download"]["backoff_s"],
        ),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"
