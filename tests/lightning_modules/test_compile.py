"""The compile switch: the hand-built stack compiles as one graph, and compiled equals eager."""

import pytest
import torch

from layers.causal_attention import BLOCK
from layers.transformer import TransformerConfig, TransformerLM
from lightning_modules.causal_lm import CausalLM

# The hand-built path at two lengths: one block of queries (the plain formula) and several (the block loop
# of layers/causal_attention.py, with its closed-form backward).
PATHS = [("manual", 8), ("manual", 2 * BLOCK + 8), ("sdpa", 8)]
TINY = TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=8, dropout=0.0)


def tiny_lm(attn_impl: str, max_len: int = 8) -> TransformerLM:
    shape = {"d_model": 16, "n_heads": 2, "n_layers": 2, "max_len": max_len, "dropout": 0.0}
    return TransformerLM(TransformerConfig(vocab_size=11, attn_impl=attn_impl, **shape))


@pytest.mark.parametrize(("attn_impl", "t"), PATHS)
def test_forward_has_no_graph_breaks(attn_impl, t):
    lm = tiny_lm(attn_impl, t)
    ids = torch.randint(11, (3, t))
    explanation = torch._dynamo.explain(lm)(ids)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize(("attn_impl", "t"), PATHS)
def test_compiled_forward_and_gradients_equal_eager(attn_impl, t):
    torch._dynamo.reset()
    lm = tiny_lm(attn_impl, t)
    ids = torch.randint(11, (3, t))
    # aot_eager traces forward and backward as inductor does (fullgraph: a graph break is an error), without
    # the C++ compilation that would make this test slow.
    compiled = torch.compile(lm, fullgraph=True, backend="aot_eager")
    eager_out = lm(ids)
    eager_out.square().mean().backward()
    eager_grads = [p.grad.clone() for p in lm.parameters()]
    lm.zero_grad()
    compiled_out = compiled(ids)
    compiled_out.square().mean().backward()
    torch.testing.assert_close(compiled_out, eager_out)
    for p, expected in zip(lm.parameters(), eager_grads, strict=True):
        torch.testing.assert_close(p.grad, expected)


def compiled_causal_lm(backend: str | None) -> CausalLM:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = CausalLM(vocab_size=11, transformer=TINY, compile=True)
    if backend is not None:  # the same wiring without inductor's C++ compilation
        model._compiled_net = torch.compile(model.net.forward, dynamic=False, backend=backend)
    return model


def check_training_steps_compiled(model: CausalLM) -> None:
    assert not any("_compiled" in name for name in model.state_dict())  # checkpoints keep their names
    ids = torch.randint(11, (2, 8))
    model.eval()
    eager = model(ids)  # evaluation runs eager: nothing compiled
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 0
    model.train()
    torch.testing.assert_close(model(ids), eager, rtol=1e-4, atol=1e-5)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


def test_causal_lm_compiles_training_steps_only():
    check_training_steps_compiled(compiled_causal_lm(backend="aot_eager"))
    assert CausalLM(vocab_size=11, transformer=TINY)._compiled_net is None


@pytest.mark.slow
def test_causal_lm_compiles_with_inductor():
    check_training_steps_compiled(compiled_causal_lm(backend=None))  # what `compile: true` runs: ~20-40 s
