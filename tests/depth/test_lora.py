"""Dynamic-rank LoRA: zero-initialised update, exact merge, proximal sparsification."""

import pytest
import torch

from groundfm.depth.lora import DynamicLoRALinear


def _layer(seed: int = 0) -> DynamicLoRALinear:
    torch.manual_seed(seed)
    return DynamicLoRALinear(12, 20, rank=4, alpha=4.0)


def test_fresh_adapter_changes_nothing():
    layer = _layer()
    x = torch.randn(3, 5, 12)

    assert torch.count_nonzero(layer.delta_weight()) == 0
    assert torch.allclose(layer(x), layer.base(x))
    assert layer.lora_a.abs().sum() > 0, 'A must be Kaiming-initialised, only B starts at zero'


def test_merge_matches_the_unmerged_forward():
    layer = _layer()
    with torch.no_grad():
        layer.lora_b.normal_()
        layer.gate.copy_(torch.tensor([1.0, 0.0, -0.5, 2.0]))
    x = torch.randn(7, 12)
    before = layer(x)
    assert not torch.allclose(before, layer.base(x)), 'the adapter must change the output before merging'

    merged = layer.merge()

    assert merged == 3
    assert torch.count_nonzero(layer.lora_b) == 0
    assert torch.allclose(layer(x), before, atol=1e-5)


def test_proximal_step_zeroes_small_gates_and_shrinks_the_rest():
    layer = _layer()
    with torch.no_grad():
        layer.gate.copy_(torch.tensor([0.004, -0.003, 0.5, -0.2]))

    active = layer.proximal_step(0.005)

    assert active == layer.active_rank() == 2
    assert torch.allclose(layer.gate, torch.tensor([0.0, 0.0, 0.495, -0.195]))
    assert layer.l1_penalty().item() == pytest.approx(0.69)
    with pytest.raises(ValueError, match='kappa'):
        layer.proximal_step(-1.0)


def test_gates_receive_gradients():
    layer = _layer()
    with torch.no_grad():
        layer.lora_b.normal_()
    layer(torch.randn(4, 12)).pow(2).sum().backward()

    assert layer.gate.grad is not None and layer.gate.grad.abs().sum() > 0
