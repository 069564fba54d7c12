"""Sparse Brain Model: whole-brain larval-zebrafish forecasting, from raw light-sheet data to figures.

Rooms, each importing only the ones before it:
    sbm.io      raw readers (Chen 2018 layout), atomic HDF5/JSON writing, the figshare downloader
    sbm.synth   the simulated fish, written in the Chen 2018 layout
    sbm.spikes  DF/F with a causal baseline and the CASCADE noise level
"""

__version__ = "0.1.0"
