"""benchmarks/nanogpt.py's recipe-step table: the same model size on both sides, each program's own optimiser."""

import torch

from benchmarks import nanogpt


def parameters(model):
    return sum(p.numel() for p in model.parameters())


def test_both_recipes_train_models_of_the_same_size_without_biases():
    lab = nanogpt.lab_model(32, 64, "manual", bias=False)
    reference = nanogpt.NanoGPT(32, 64, bias=False)
    assert parameters(lab) == parameters(reference) == 799_872  # the recipe's 799 K in train.py's model summary
    assert not [name for name, _ in lab.named_parameters() if name.endswith("bias")]


def test_recipe_optimiser_decays_matrices_only_and_fuses_only_when_asked():
    model = nanogpt.NanoGPT(32, 64, bias=False)
    for fused in (False, True):
        optimizer = nanogpt.recipe_optimizer(model, fused)
        decayed, other = optimizer.param_groups
        assert decayed["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in decayed["params"])
        assert other["weight_decay"] == 0.0 and all(p.dim() < 2 for p in other["params"])
        assert bool(optimizer.defaults["fused"]) is fused and optimizer.defaults["betas"] == (0.9, 0.99)


def test_a_recipe_step_clips_the_gradient_before_the_update(monkeypatch):
    model = nanogpt.lab_model(32, 16, "manual", bias=False)
    data = torch.randint(32, (2, 17))
    norms = []
    real_clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda p, m: norms.append(real_clip(p, m)))
    before = [p.detach().clone() for p in model.parameters()]
    batch = (data[:, :-1].contiguous(), data[:, 1:].contiguous())
    nanogpt.training_step(model, batch, optimizer=nanogpt.recipe_optimizer(model, True), clip=1.0)()
    assert len(norms) == 1 and norms[0] > 0
    assert all(p.grad is None for p in model.parameters())  # zeroed after the update
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_recipe_step_table_has_each_recipe_and_its_ablations():
    table = nanogpt.recipe_step_table(repeats=1, seq_len=16)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 6
    assert rows[0].startswith("| nanoGPT GPT") and rows[0].endswith("| 1.00 |")
    assert "fused AdamW" in rows[1]
