# The Chen et al. 2018 recordings from figshare: one listing, then one verified download per fish.
# Neither the downloader's code nor how often it retries reruns them: the data does not change.


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
        **job(
            "list_figshare.py",
            untracked=("retries", "backoff_s"),
            code=False,
            **{k: setting(f"download.{k}") for k in ("api_url", "article_id", "retries", "backoff_s")},
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule download:
    input:
        listing=rules.figshare_listing.output.out,
    output:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
    log:
        f"{LOGS}/download/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/download/{{subject}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=600,
    params:
        **job(
            "download_chen2018.py",
            untracked=("keep_archive", "retries", "backoff_s"),
            code=False,
            pattern=setting("download.subject_pattern"),
            download_dir=f"resources/{DATASET}/archives",
            keep_archive=setting("download.keep_archives"),
            retries=setting("download.retries"),
            backoff_s=setting("download.backoff_s"),
        ),
    shell:
        "python {params.command} > {log:q} 2>&1"
