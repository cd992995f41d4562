"""Dynamic-rank LoRA (CoDyRA, as StereoAdapter uses it): Delta W = s * B diag(g) A with a per-rank gate g.

A is Kaiming-initialised, B zero-initialised (so Delta W = 0 at the start), and the gates g carry an L1 sparsity
penalty kappa * |g|_1 handled by proximal gradient descent (ISTA): after each optimiser step with learning rate lr,
the gates are soft-thresholded, g <- sign(g) max(|g| - kappa * lr, 0), the proximal operator of lr * kappa * |g|_1.
Gates the data does not support drift to zero and stay there, so the rank adapts per layer. `merge()` folds the
active ranks (the zeroed ones contribute nothing) into the frozen base weight for inference.
"""

import math

import torch
from torch import Tensor, nn


class DynamicLoRALinear(nn.Module):
    """nn.Linear plus a gated low-rank update; `base` keeps the original weight and bias."""

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float, bias: bool = True) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f'rank must be >= 1, got {rank}')
        self.base = nn.Linear(in_features, out_features, bias=bias)
        self.rank, self.scale = rank, alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, in_features))  # r x in
        self.lora_b = nn.Parameter(torch.zeros(out_features, rank))  # out x r
        self.gate = nn.Parameter(torch.ones(rank))  # r
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    @property
    def in_features(self) -> int:
        """Input width."""
        return self.base.in_features

    @property
    def out_features(self) -> int:
        """Output width."""
        return self.base.out_features

    def delta_weight(self) -> Tensor:
        """The low-rank update s * B diag(g) A, shape (out, in)."""
        return self.scale * (self.lora_b * self.gate) @ self.lora_a

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) -> (..., out)."""
        out = self.base(x)
        if not self._adapter_trains() and (torch.count_nonzero(self.lora_b) == 0
                                           or torch.count_nonzero(self.gate) == 0):
            return out  # merged or inactive at inference: skip the two extra matmuls
        # While training, the path must run even at Delta W = 0: B starts at zero and only learns through it.
        return out + self.scale * ((x @ self.lora_a.t()) * self.gate) @ self.lora_b.t()

    def _adapter_trains(self) -> bool:
        """Whether autograd needs the adapter path (grad mode on and any of A, B, gates trainable)."""
        return torch.is_grad_enabled() and any(p.requires_grad for p in (self.lora_a, self.lora_b, self.gate))

    def l1_penalty(self) -> Tensor:
        """Sum of |g| (multiply by lambda in the loss)."""
        return self.gate.abs().sum()

    @torch.no_grad()
    def proximal_step(self, kappa: float, lr: float) -> int:
        """Proximal step of lr * kappa * |g|_1 after an optimiser step of learning rate lr: soft-threshold the gates
        by kappa * lr (not kappa: the threshold scales with the step size); returns the ranks still active."""
        if kappa < 0 or lr < 0:
            raise ValueError(f'kappa and lr must be >= 0, got kappa={kappa}, lr={lr}')
        threshold = kappa * lr
        self.gate.copy_(torch.sign(self.gate) * (self.gate.abs() - threshold).clamp_min(0.0))
        return self.active_rank()

    def active_rank(self) -> int:
        """Ranks with a non-zero gate."""
        return int(torch.count_nonzero(self.gate))

    @torch.no_grad()
    def merge(self) -> int:
        """Fold the active ranks into base.weight and reset the adapter to Delta W = 0; returns the ranks merged."""
        merged = self.active_rank()
        self.base.weight.add_(self.delta_weight())
        self.lora_b.zero_()
        return merged

    @torch.no_grad()
    def reset_adapter(self) -> None:
        """A fresh adapter: new Kaiming A, zero B, unit gates (base weights untouched)."""
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.lora_b.zero_()
        self.gate.fill_(1.0)


def lora_layers(module: nn.Module) -> list[DynamicLoRALinear]:
    """Every DynamicLoRALinear inside module."""
    return [m for m in module.modules() if isinstance(m, DynamicLoRALinear)]


def lora_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The adapter parameters (A, B, gates) of every LoRA layer in module."""
    return [p for m in lora_layers(module) for p in (m.lora_a, m.lora_b, m.gate)]
