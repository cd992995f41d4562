"""Small hybrid ViT encoder with dynamic-rank LoRA, and a DPT-style neck giving features at 1/4, 1/8 and 1/16.

StereoAdapter adapts a frozen Depth-Anything-V2 ViT with LoRA. No such weights can be downloaded here, so this encoder
is small and pretrained in this repository (groundfm_training.depth, stage a); stage b then adapts it through the LoRA
adapters only, as in the paper. The patch embedding is a conv stem (/8) plus a 2x2 patch merge (/16), like DPT-hybrid,
so the neck has real high-resolution features for matching.
"""

import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor, nn

from groundfm.depth.config import EncoderConfig, LoRAConfig
from groundfm.depth.lora import DynamicLoRALinear


def conv_block(c_in: int, c_out: int, stride: int = 1, groups: int = 8) -> nn.Sequential:
    """3x3 conv + GroupNorm + ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(groups, c_out),
                         nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Two 3x3 convs with GroupNorm and an identity shortcut."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(dim, dim), nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
                                  nn.GroupNorm(8, dim))

    def forward(self, x: Tensor) -> Tensor:
        """(b, c, h, w) -> (b, c, h, w)."""
        return F.relu(x + self.body(x))


class Attention(nn.Module):
    """Multi-head self-attention whose qkv and proj carry LoRA."""

    def __init__(self, dim: int, heads: int, lora: LoRAConfig) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = DynamicLoRALinear(dim, 3 * dim, lora.rank, lora.alpha)
        self.proj = DynamicLoRALinear(dim, dim, lora.rank, lora.alpha)

    def forward(self, x: Tensor) -> Tensor:
        """(b, n, d) -> (b, n, d)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # b heads n d/heads
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2, both with LoRA."""

    def __init__(self, dim: int, hidden: int, lora: LoRAConfig) -> None:
        super().__init__()
        self.fc1 = DynamicLoRALinear(dim, hidden, lora.rank, lora.alpha)
        self.fc2 = DynamicLoRALinear(hidden, dim, lora.rank, lora.alpha)

    def forward(self, x: Tensor) -> Tensor:
        """(b, n, d) -> (b, n, d)."""
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, lora: LoRAConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, lora)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), lora)

    def forward(self, x: Tensor) -> Tensor:
        """(b, n, d) -> (b, n, d)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTEncoder(nn.Module):
    """Images -> fused feature maps at 1/4, 1/8 and 1/16 of the input (the input must be a multiple of 16)."""

    POS_GRID = (16, 20)  # learned position embedding grid (h, w), resized to the token grid

    def __init__(self, cfg: EncoderConfig, lora: LoRAConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c4, c8 = cfg.stem_dims
        d, f = cfg.embed_dim, cfg.feature_dim
        self.stem4 = nn.Sequential(conv_block(3, c4 // 2, 2), conv_block(c4 // 2, c4, 2), ResBlock(c4))
        self.stem8 = nn.Sequential(conv_block(c4, c8, 2), ResBlock(c8))
        self.patch_embed = nn.Conv2d(c8, d, 2, 2)
        self.pos_embed = nn.Parameter(torch.zeros(1, d, *self.POS_GRID))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio, lora) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d)
        # DPT-style neck: token maps -> 1/16, then fuse upwards with the stem's 1/8 and 1/4 maps.
        self.reassemble = nn.Conv2d(d * len(cfg.out_indices), f, 1)
        self.lateral8 = nn.Conv2d(c8, f, 1)
        self.lateral4 = nn.Conv2d(c4, f, 1)
        self.fuse16 = ResBlock(f)
        self.fuse8 = nn.Sequential(conv_block(f, f), ResBlock(f))
        self.fuse4 = conv_block(f, f)  # one conv at 1/4: this resolution dominates the encoder's cost

    def tokens(self, x8: Tensor) -> list[Tensor]:
        """Stem map (b, c8, h/8, w/8) -> the out_indices blocks' tokens as maps (b, d, h/16, w/16)."""
        t = self.patch_embed(x8)  # b d h16 w16
        b, d, h, w = t.shape
        pos = F.interpolate(self.pos_embed, size=(h, w), mode='bilinear', align_corners=False)
        x = (t + pos).flatten(2).transpose(1, 2)  # b n d
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.cfg.out_indices:
                y = self.norm(x) if i == len(self.blocks) - 1 else x
                outs.append(y.transpose(1, 2).reshape(b, d, h, w))
        return outs

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised images (b, 3, h, w) -> (b, f, h/4, w/4), (b, f, h/8, w/8), (b, f, h/16, w/16)."""
        if image.shape[-2] % 16 or image.shape[-1] % 16:
            raise ValueError(f'input size {tuple(image.shape[-2:])} must be a multiple of 16 (pad first)')
        x4 = self.stem4(image)
        x8 = self.stem8(x4)
        f16 = self.fuse16(self.reassemble(torch.cat(self.tokens(x8), dim=1)))
        f8 = self.fuse8(self.lateral8(x8) + F.interpolate(f16, scale_factor=2, mode='bilinear', align_corners=False))
        f4 = self.fuse4(self.lateral4(x4) + F.interpolate(f8, scale_factor=2, mode='bilinear', align_corners=False))
        return f4, f8, f16
