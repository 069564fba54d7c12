"""The simulated fish: a canonical brain (brain.py) sampled into fish written in the Chen layout (fish.py)."""
