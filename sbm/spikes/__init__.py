"""From fluorescence to spikes: DF/F with a causal baseline and the CASCADE noise level."""
