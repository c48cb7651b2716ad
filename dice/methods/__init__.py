"""The registry: every method key the suite knows, one explicit entry each (docs/methods.md).

A key maps to an `Entry`: the method module's `METHOD` and the settings fixed for this key.
Variants of a method are entries with fixed settings (ips-c, bias-u, dice-l1, …); a variant
with a `base` starts from the base entry's resolved settings (so a config's
`method_settings: {dice: …}` reaches dice-l1 too). A config adds keys of its own through
`method_settings` (`objective:` names the entry a key is based on); `register` adds an entry
from code.
"""

from __future__ import annotations

from dice.errors import DiceError
from dice.methods import bcloss, bias, bpr, cause, dice, ips, itempop, macr, pda, relmf
from dice.methods.spec import Entry, Method

REGISTRY: dict[str, Entry] = {
    "none": Entry(bpr.METHOD, summary="BPR on the backbone"),
    "ips": Entry(ips.METHOD, {"variant": "ips"}, summary="IPS-weighted BPR"),
    "ips-c": Entry(ips.METHOD, {"variant": "ips-c"}, summary="IPS, weights capped at the median"),
    "ips-cn": Entry(ips.METHOD, {"variant": "ips-cn"}, summary="IPS-C, normalised"),
    "ips-cnsr": Entry(ips.METHOD, {"variant": "ips-cnsr"}, summary="IPS-CN, smoothed"),
    "ips-cn-batch": Entry(ips.METHOD, {"variant": "ips-cn", "ips_normalisation": "batch"},
                          summary="IPS-CN self-normalised per batch (NCIS, Gruson et al.)"),
    "cause": Entry(cause.METHOD, summary="CausE (control/treatment embeddings)"),
    "cause-treatment": Entry(cause.METHOD, {"ranking": "treatment"}, base="cause",
                             summary="CausE ranking with the treatment embeddings"),
    "bias-u": Entry(bias.METHOD, {"biases": "user"}, summary="BPR + user scalar bias"),
    "bias-i": Entry(bias.METHOD, {"biases": "item"}, summary="BPR + item scalar bias"),
    "bias-ui": Entry(bias.METHOD, {"biases": "user_item"}, summary="BPR + user and item biases"),
    "dice": Entry(dice.METHOD, summary="DICE"),
    "dice-random": Entry(dice.METHOD, {"negatives": "random"}, base="dice",
                         summary="Table 3: uniform negatives, mask from popularity"),
    "dice-nocon": Entry(dice.METHOD, {"conformity_weight": 0.0}, base="dice",
                        summary="Fig. 7: no conformity modelling (authors' code --pop_weight=0)"),
    "dice-l1": Entry(dice.METHOD, {"discrepancy": "l1"}, base="dice", summary="§4.4.4 L1-inv"),
    "dice-l2": Entry(dice.METHOD, {"discrepancy": "l2"}, base="dice", summary="§4.4.4 L2-inv"),
    "itempop": Entry(itempop.METHOD, summary="most popular items (normal-train counts)"),
    "pd": Entry(pda.METHOD, {"inference": "pd"}, summary="PD: trained with popularity, ranks "
                "deconfounded (Zhang et al. SIGIR'21)"),
    "pda": Entry(pda.METHOD, {"inference": "pda"}, summary="PDA: PD's training, ranks with "
                 "popularity^gamma-tilde (Zhang et al. SIGIR'21)"),
    "macr": Entry(macr.METHOD, summary="MACR: user/item branches, counterfactual inference "
                  "(Wei et al. KDD'21)"),
    "rel-mf": Entry(relmf.METHOD, summary="Rel-MF: propensity-weighted pointwise loss "
                    "(Saito et al. WSDM'20)"),
    "bc-loss": Entry(bcloss.METHOD, summary="BC loss: bias-aware margin contrastive loss "
                     "(Zhang et al. NeurIPS'22)"),
}  # fmt: skip


def register(key: str, entry: Entry) -> None:
    """Add a registry entry (DiceError if the key is taken)."""
    if key in REGISTRY:
        raise DiceError(f"method key {key!r} is already registered")
    REGISTRY[key] = entry


def methods() -> list[Method]:
    """Every registered method family, once each, in registry order."""
    return list({id(e.method): e.method for e in REGISTRY.values()}.values())


__all__ = ["REGISTRY", "Entry", "Method", "methods", "register"]
