"""CausE's ranking side (`method_settings.cause.ranking`): control by default, as the authors'
code; treatment in `cause-treatment`, as Bonner & Vasile's CausE predicts. Both train the same
model: only the scores used for ranking differ."""

from __future__ import annotations

import torch

from dice.registry import build_model
from dice.seeding import torch_generator
from tests.conftest import settings_for


def cause(suite_config, split, key: str, backbone: str = "mf"):
    _, cfg, _ = settings_for(suite_config, key, backbone)
    return build_model(cfg, split, generator=torch_generator(0, "init"))


def test_mf_cause_ranks_with_the_chosen_item_table(suite_config, small_split):
    control, treatment = (cause(suite_config, small_split, k) for k in ("cause", "cause-treatment"))
    assert control.ranking == "control" and treatment.ranking == "treatment"
    for a, b in zip(control.state_dict().values(), treatment.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the same model, drawn from the same generator
    users = torch.arange(7)
    user_table = control.control.user.detach()  # MF: one user table, shared by both sides
    with torch.no_grad():
        got_c, got_t = control.scorer("full")(users), treatment.scorer("full")(users)
    torch.testing.assert_close(got_c, user_table[users] @ control.control.item.detach().T)
    torch.testing.assert_close(got_t, user_table[users] @ treatment.treatment.item.detach().T)
    assert not torch.allclose(got_c, got_t)


def test_lightgcn_cause_treatment_ranks_with_the_intervened_graph_side(suite_config, small_split):
    model = cause(suite_config, small_split, "cause-treatment", "lightgcn").eval()  # no dropout
    users = torch.arange(5)
    with torch.no_grad():
        u_t, i_t = model.treatment()
        u_c, i_c = model.control()
        got = model.scorer("full")(users)
    torch.testing.assert_close(got, u_t[users] @ i_t.T)
    assert not torch.allclose(got, u_c[users] @ i_c.T)
