# The Chen et al. 2018 recordings from figshare: one listing, then one verified download per fish.


rule figshare_listing:
    output:
        f"resources/{DATASET}/figshare_listing.json",
    params:
        script=script("download_chen2018.py"),
        api_url=config["download"]["api_url"],
        article_id=config["download"]["article_id"],
        retries=config["download"]["retries"],
        backoff_s=config["download"]["backoff_s"],
    conda:
        ENV
    log:
        f"{LOGS}/download/listing.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "python {params.script:q} list --api-url {params.api_url:q} --article-id {params.article_id} "
        "--retries {params.retries} --backoff-s {params.backoff_s} --out {output:q} > {log:q} 2>&1"


rule download:
    input:
        listing=rules.figshare_listing.output[0],
    output:
        timeseries=raw("TimeSeries.h5"),
        data_full=raw("data_full.mat"),
    params:
        script=script("download_chen2018.py"),
        pattern=subject_pattern,
        raw_dir=RAW,
        archives=f"resources/{DATASET}/archives",
        retries=config["download"]["retries"],
        backoff_s=config["download"]["backoff_s"],
        keep=keep_archive_flag(),
    conda:
        ENV
    log:
        f"{LOGS}/download/{{subject}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=600,
    shell:
        "python {params.script:q} fetch --listing {input.listing:q} --subject {wildcards.subject} "
        "--pattern {params.pattern:q} --raw-dir {params.raw_dir:q} --download-dir {params.archives:q} "
        "--retries {params.retries} --backoff-s {params.backoff_s} {params.keep} > {log:q} 2>&1"
