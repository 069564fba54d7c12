# Behaviour: one PNM per behaviour dimension, linear baselines, the held-out evaluation (from true
# and from SBM-forecast brain states), the neural-pattern search, and figure 3. Only these rules
# read behaviour: a fish without usable behaviour stops them with the reason, not the others
# (profiles/default keeps going with independent jobs).


rule train_pnm:
    input:
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("train", "val"),
        code=code("train_pnm.py"),
    output:
        f"{RESULTS}/pnm/{{behavior}}.pt",
    params:
        script=script("train_pnm.py"),
        probs_dir=f"{RESULTS}/probs",
        settings=pnm_settings("model", "train"),
    conda:
        ENV
    log:
        f"{LOGS}/train_pnm/{{behavior}}.log",
    threads: 1
    resources:
        mem_mb=pnm_memory_mb,
        runtime=120,
    shell:
        "python {params.script:q} --split {input.split:q} --probs-dir {params.probs_dir:q} --behavior {wildcards.behavior} "
        "--settings {params.settings:q} --threads {threads} --no-progress --out {output:q} > {log:q} 2>&1"


rule fit_behavior_baselines:
    input:
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("train", "val"),
        code=code("fit_behavior_baselines.py"),
    output:
        f"{RESULTS}/baselines/behavior.pt",
    params:
        script=script("fit_behavior_baselines.py"),
        probs_dir=f"{RESULTS}/probs",
        settings=pnm_settings("model", "baselines"),
    conda:
        ENV
    log:
        f"{LOGS}/fit_behavior_baselines.log",
    threads: 1
    resources:
        mem_mb=pnm_memory_mb,
        runtime=60,
    shell:
        "python {params.script:q} --split {input.split:q} --probs-dir {params.probs_dir:q} --settings {params.settings:q} "
        "--threads {threads} --out {output:q} > {log:q} 2>&1"


rule evaluate_behavior:
    input:
        weights=f"{RESULTS}/sbm/weights.pt",
        pnm=pnm_models(),
        baselines=f"{RESULTS}/baselines/behavior.pt",
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("heldout"),
        code=code("evaluate_behavior.py"),
    output:
        metrics=f"{RESULTS}/eval/behavior.json",
        predictions=f"{RESULTS}/eval/behavior_predictions.h5",
    params:
        script=script("evaluate_behavior.py"),
        probs_dir=f"{RESULTS}/probs",
        batch_size=config["sbm"]["evaluate"]["batch_size"],
    conda:
        ENV
    log:
        f"{LOGS}/evaluate_behavior.log",
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --weights {input.weights:q} --pnm {input.pnm:q} --baselines {input.baselines:q} --split {input.split:q} "
        "--probs-dir {params.probs_dir:q} --batch-size {params.batch_size} --threads {threads} "
        "--predictions-out {output.predictions:q} --out {output.metrics:q} > {log:q} 2>&1"


rule search_patterns:
    input:
        pnm=pnm_models(),
        split=f"{RESULTS}/split.yaml",
        probs=probs_of("train", "heldout"),
        predictions=f"{RESULTS}/eval/behavior_predictions.h5",
        # The SBM rolls the patterns out only with pnm.search.through_sbm.
        weights=[f"{RESULTS}/sbm/weights.pt"] if config["pnm"]["search"]["through_sbm"] else [],
        code=code("search_patterns.py"),
    output:
        metrics=f"{RESULTS}/eval/search.json",
        space=f"{RESULTS}/eval/behavior_space.csv",
        pattern=f"{RESULTS}/eval/search_pattern.h5",
    params:
        script=script("search_patterns.py"),
        probs_dir=f"{RESULTS}/probs",
        settings=pnm_settings("search"),
        weights=lambda wildcards, input: f"--weights {input.weights[0]}" if input.weights else "",
    conda:
        ENV
    log:
        f"{LOGS}/search_patterns.log",
    threads: ALL_CORES
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "python {params.script:q} --pnm {input.pnm:q} --split {input.split:q} --probs-dir {params.probs_dir:q} "
        "--predictions {input.predictions:q} --settings {params.settings:q} {params.weights} --threads {threads} "
        "--out {output.metrics:q} --space-out {output.space:q} --pattern-out {output.pattern:q} > {log:q} 2>&1"


rule behavior_figures:
    input:
        behavior_outputs(),
        code=code("draw_behavior_figures.py"),
    output:
        fig3a=report(f"{RESULTS}/figures/fig3a_behavior.png", caption="../report/fig3a.rst", category="Figure 3: behaviour"),
        fig3b=report(f"{RESULTS}/figures/fig3b_behavior_space.png", caption="../report/fig3b.rst", category="Figure 3: behaviour"),
        fig3c=report(f"{RESULTS}/figures/fig3c_pattern.png", caption="../report/fig3c.rst", category="Figure 3: behaviour"),
    params:
        script=script("draw_behavior_figures.py"),
        eval_dir=lambda wildcards, input: os.path.dirname(input[0]),
        out_dir=output_folder,
    conda:
        ENV
    log:
        f"{LOGS}/behavior_figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "python {params.script:q} --eval-dir {params.eval_dir:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"
