"""DICE benchmark suite: a faithful, fast reproduction of Zheng et al., "Disentangling User
Interest and Conformity for Recommendation with Causal Embedding" (WWW'21)."""

__version__ = "0.1.0"
