"""Sparse Brain Model: whole-brain larval-zebrafish forecasting, from raw light-sheet data to figures.

Rooms, each importing only the ones before it (sbm.settings and sbm.cli are shared helpers):
    sbm.io      raw readers (Chen 2018 layout), atomic writes, the figshare and GitHub downloaders
    sbm.synth   the simulated fish, written in the Chen 2018 layout
    sbm.spikes  DF/F with a causal baseline, spike-inference ground truth, the causal networks,
                baselines and metrics, the spikes and probabilities stages
"""

__version__ = "0.1.0"
