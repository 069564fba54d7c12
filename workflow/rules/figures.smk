# The paper's figures 1B, 1C and 2A-D (and, on simulated fish, the connectome panel), drawn from
# results/<dataset>/eval/ only. Each is marked for `snakemake --report`, with its caption in
# workflow/report/.


rule figures:
    input:
        **evaluation_outputs(),
    output:
        fig1b=report(
            f"{RESULTS}/figures/fig1b_brain_maps.png", caption="../report/fig1b.rst", category="Figure 1: forecasts"
        ),
        fig1c=report(
            f"{RESULTS}/figures/fig1c_traces.png", caption="../report/fig1c.rst", category="Figure 1: forecasts"
        ),
        fig2a=report(
            f"{RESULTS}/figures/fig2a_calibration.png", caption="../report/fig2a.rst", category="Figure 2: evaluation"
        ),
        fig2b=report(
            f"{RESULTS}/figures/fig2b_context.png", caption="../report/fig2b.rst", category="Figure 2: evaluation"
        ),
        rollouts=report(
            f"{RESULTS}/figures/rollouts.png", caption="../report/rollouts.rst", category="Figure 2: evaluation"
        ),
        adapt_figure=report(
            f"{RESULTS}/figures/adapt.png", caption="../report/adapt.rst", category="Figure 2: evaluation"
        ),
        fig2d=report(
            f"{RESULTS}/figures/fig2d_fidelity.png", caption="../report/fig2d.rst", category="Figure 2: evaluation"
        ),
        table=report(
            f"{RESULTS}/figures/next_step_table.html",
            caption="../report/next_step_table.rst",
            category="Figure 2: evaluation",
        ),
        table_csv=f"{RESULTS}/figures/next_step_table.csv",
        connectome_figure=(
            [report(f"{RESULTS}/figures/connectome.png", caption="../report/connectome.rst", category="Connectome")]
            if config["source"] == "synthetic"
            else []
        ),
    log:
        f"{LOGS}/figures.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **job("draw_figures.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"


# The in-silico experiments' figure (its own rule: the stage waits for the PNMs).
rule insilico_figure:
    input:
        metrics=rules.insilico.output.metrics,
        responses=rules.insilico.output.responses,
    output:
        out=report(
            f"{RESULTS}/figures/insilico.png", caption="../report/insilico.rst", category="In-silico optogenetics"
        ),
    log:
        f"{LOGS}/insilico_figure.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **job("draw_insilico_figure.py"),
    shell:
        "python {params.command} > {log:q} 2>&1"
