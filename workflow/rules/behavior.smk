# Behaviour: one PNM per behaviour dimension, linear baselines, the held-out evaluation (from true
# and from SBM-forecast brain states), the neural-pattern search, and figure 3. Only these rules
# read behaviour: a fish without usable behaviour stops them with the reason, not the others
# (profiles/default keeps going with independent jobs).


rule train_pnm:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
    output:
        out=f"{RESULTS}/pnm/{{behavior}}.pt",
    log:
        f"{LOGS}/train_pnm/{{behavior}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_pnm/{{behavior}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=pnm_memory_mb,
        runtime=120,
    params:
        **job("train_pnm.py", settings=pnm_settings("model", "train")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule fit_behavior_baselines:
    input:
        split=rules.split.output.out,
        train=probs_of("train"),
        val=probs_of("val"),
    output:
        out=f"{RESULTS}/baselines/behavior.pt",
    log:
        f"{LOGS}/fit_behavior_baselines.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit_behavior_baselines.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=pnm_memory_mb,
        runtime=60,
    params:
        **job("fit_behavior_baselines.py", settings=pnm_settings("model", "baselines")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule evaluate_behavior:
    input:
        weights=rules.train_sbm.output.out,
        pnm=pnm_models(),
        baselines=rules.fit_behavior_baselines.output.out,
        split=rules.split.output.out,
        heldout=probs_of("heldout"),
    output:
        metrics=behavior_outputs()["behavior"],
        predictions=behavior_outputs()["predictions"],
    log:
        f"{LOGS}/evaluate_behavior.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_behavior.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        **job("evaluate_behavior.py", batch_size=setting("sbm.evaluate.batch_size")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule search_patterns:
    input:
        pnm=pnm_models(),
        split=rules.split.output.out,
        train=probs_of("train"),
        heldout=probs_of("heldout"),
        predictions=rules.evaluate_behavior.output.predictions,
        # The SBM rolls the patterns out only with pnm.search.through_sbm.
        weights=[rules.train_sbm.output.out] if config["pnm"]["search"]["through_sbm"] else [],
    output:
        metrics=behavior_outputs()["search"],
        space=behavior_outputs()["space"],
        pattern=behavior_outputs()["pattern"],
    log:
        f"{LOGS}/search_patterns.log",
    benchmark:
        f"{RESULTS}/benchmarks/search_patterns.tsv"
    conda:
        ENV
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        **job("search_patterns.py", settings=pnm_settings("search")),
    shell:
        "python {params.command} > {log:q} 2>&1"


rule behavior_figures:
    input:
        **behavior_outputs(),
    output:
        fig3a=report(
            f"{RESULTS}/figures/fig3a_behavior.png", caption="../report/fig3a.rst", category="Figure 3: behaviour"
        ),
        fig3b=report(
            f"{RESULTS}/figures/fig3b_behavior_space.png",
            caption="../report/fig3b.rst",
            category="Figure 3: behaviour",
        ),
        fig3c=report(
            f"{RESULTS}/figures/fig3c_pattern.png", caption="../report/fig3c.rst", category="Figure 3: behaviour"
        ),
    log:
        f"{LOGS}/behavior_figures.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **job("draw_behavior_figures.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"
