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


def test_proximal_step_thresholds_by_kappa_times_lr():
    layer = _layer()
    with torch.no_grad():
        layer.gate.copy_(torch.tensor([0.004, -0.003, 0.5, -0.2]))

    active = layer.proximal_step(0.05, lr=0.1)  # threshold kappa * lr = 0.005

    assert active == layer.active_rank() == 2
    assert torch.allclose(layer.gate, torch.tensor([0.0, 0.0, 0.495, -0.195]))
    assert layer.l1_penalty().item() == pytest.approx(0.69)
    with pytest.raises(ValueError, match='kappa'):
        layer.proximal_step(-1.0, lr=0.1)
    with pytest.raises(ValueError, match='lr'):
        layer.proximal_step(0.005, lr=-1.0)


def test_proximal_steps_at_the_paper_kappa_keep_supported_ranks():
    """kappa = 5e-3 at lr 1e-4 for 1000 steps shrinks a gate by only 5e-4 (ISTA); subtracting kappa itself per step,
    the old bug, would zero a unit gate in 200 steps and prune every rank."""
    layer = _layer()
    with torch.no_grad():
        layer.gate.copy_(torch.tensor([1.0, -0.5, 1e-4, 0.0]))

    for _ in range(1000):
        active = layer.proximal_step(5e-3, lr=1e-4)

    assert active == 2
    assert torch.allclose(layer.gate, torch.tensor([0.9995, -0.4995, 0.0, 0.0]), atol=1e-4)


def test_adaptation_proximal_update_uses_the_step_size():
    from groundfm.depth.config import EncoderConfig, LoRAConfig, StereoAdapterConfig
    from groundfm.depth.model import StereoAdapter
    from groundfm_training.depth.train import kappa_schedule, proximal_update

    torch.manual_seed(0)
    model = StereoAdapter(StereoAdapterConfig(encoder=EncoderConfig(embed_dim=32, depth=2, out_indices=(0, 1)),
                                              lora=LoRAConfig(rank=4)))
    total = sum(layer.rank for layer in model.lora_layers())
    kappa = model.cfg.lora.kappa

    assert kappa_schedule(0, 100, 30, kappa) == 0.0  # dense phase
    assert kappa_schedule(65, 100, 30, kappa) == pytest.approx(kappa)  # ramped after half the rest
    for _ in range(300):
        active = proximal_update(model, kappa, lr=3e-4)
    assert active == total, 'unit gates must survive 300 proximal steps at kappa * lr'
    with torch.no_grad():
        model.lora_layers()[0].gate[0] = 1e-7
    assert proximal_update(model, kappa, lr=3e-4) == total - 1


def test_a_fresh_adapter_learns_from_its_zero_init():
    """B = 0 at the start: the adapter path must still run under autograd, or B never gets a gradient."""
    layer = _layer()
    layer.base.requires_grad_(False)
    x, target = torch.randn(16, 12), torch.randn(16, 20)
    opt = torch.optim.SGD([layer.lora_a, layer.lora_b, layer.gate], lr=0.1)

    loss = (layer(x) - target).pow(2).mean()
    loss.backward()
    assert layer.lora_b.grad is not None and layer.lora_b.grad.abs().sum() > 0
    opt.step()

    assert torch.count_nonzero(layer.lora_b) > 0
    assert (layer(x) - target).pow(2).mean() < loss
    with torch.no_grad():  # inference skips nothing it needs: the merged forward is the same
        before = layer(x)
        layer.merge()
        assert torch.allclose(layer(x), before, atol=1e-5)


def test_gates_receive_gradients():
    layer = _layer()
    with torch.no_grad():
        layer.lora_b.normal_()
    layer(torch.randn(4, 12)).pow(2).sum().backward()

    assert layer.gate.grad is not None and layer.gate.grad.abs().sum() > 0
