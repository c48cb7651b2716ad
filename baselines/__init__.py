"""Baselines of the DICE paper, composed from the backbones and losses of `dice`."""
