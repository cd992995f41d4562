"""Pure-torch sparse 3D convolution on voxel coordinates (spconv and MinkowskiEngine are not usable here).

A sparse tensor is integer coordinates (n, 3) plus features (n, c). Neighbours are found by hashing coordinates to
int64 keys and `torch.searchsorted` on the sorted keys; a convolution gathers the 27 neighbour rows (zero where a
neighbour is absent), flattens them to (n, 27 c) and does one matmul. Submanifold: outputs only at input sites.
Strided (kernel 2, stride 2) down/up-sampling maps each voxel to its parent floor(x / 2) with one weight per child
offset. Every op has a dense `_reference_*` twin built on torch.nn.functional.conv3d; tests compare the two.
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor, nn

_OFF = 1 << 20
OFFSETS = torch.stack(torch.meshgrid(*[torch.tensor([-1, 0, 1])] * 3, indexing='ij'), -1).reshape(27, 3)
CHILD_OFFSETS = torch.stack(torch.meshgrid(*[torch.tensor([0, 1])] * 3, indexing='ij'), -1).reshape(8, 3)


def coord_keys(coords: Tensor) -> Tensor:
    """Integer coordinates (n, 3) in [-2^20, 2^20) -> int64 keys (n,)."""
    c = coords.long() + _OFF
    return (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]


def kernel_map(coords: Tensor, query: Tensor | None = None) -> Tensor:
    """Row index in `coords` of each 3x3x3 neighbour of each query site (m, 27) int64, -1 where absent."""
    query = coords if query is None else query
    keys = coord_keys(coords)
    order = torch.argsort(keys)
    sorted_keys = keys[order]
    nq = coord_keys((query[:, None, :].long() + OFFSETS[None]).reshape(-1, 3))
    pos = torch.searchsorted(sorted_keys, nq).clamp(max=max(len(keys) - 1, 0))
    if len(keys) == 0:
        return torch.full((len(query), 27), -1, dtype=torch.long)
    hit = sorted_keys[pos] == nq
    return torch.where(hit, order[pos], torch.full_like(pos, -1)).reshape(-1, 27)


def parent_map(coords: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Parents of voxels for stride 2: parent coords (m, 3), parent row per voxel (n,), child offset 0..7 (n,)."""
    parent = torch.div(coords.long(), 2, rounding_mode='floor')
    offset = coords.long() - 2 * parent  # each in {0, 1}
    pcoords, inv = torch.unique(parent, dim=0, return_inverse=True)
    return pcoords, inv, offset[:, 0] * 4 + offset[:, 1] * 2 + offset[:, 2]


class SubmConv3d(nn.Module):
    """Submanifold 3x3x3 convolution: out (n, c_out) at the input sites from features (n, c_in) and a kernel map."""

    def __init__(self, c_in: int, c_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(27, c_in, c_out) / math.sqrt(27 * c_in))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None

    def forward(self, feats: Tensor, kmap: Tensor) -> Tensor:
        """feats (n, c_in), kmap (m, 27) rows into feats (-1 = absent) -> (m, c_out)."""
        padded = torch.cat([feats, feats.new_zeros(1, feats.shape[1])], 0)  # row n is the zero row
        idx = torch.where(kmap < 0, torch.full_like(kmap, feats.shape[0]), kmap)
        out = padded[idx].reshape(len(kmap), -1) @ self.weight.reshape(-1, self.weight.shape[2])
        return out if self.bias is None else out + self.bias


class SparseDown(nn.Module):
    """Kernel-2 stride-2 convolution onto the parent voxels."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, c_in, c_out) / math.sqrt(8 * c_in))

    def forward(self, feats: Tensor, parent: Tensor, offset: Tensor, n_parents: int) -> Tensor:
        """feats (n, c_in), parent row (n,), child offset (n,) -> parent features (n_parents, c_out)."""
        w = self.weight.permute(1, 0, 2).reshape(self.weight.shape[1], -1)  # c_in, 8 c_out
        per = (feats @ w).view(len(feats), 8, -1)[torch.arange(len(feats)), offset]
        return per.new_zeros(n_parents, per.shape[1]).index_add_(0, parent, per)


class SparseUp(nn.Module):
    """Transposed kernel-2 stride-2 convolution from parents back to their children."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, c_in, c_out) / math.sqrt(c_in))

    def forward(self, parent_feats: Tensor, parent: Tensor, offset: Tensor) -> Tensor:
        """parent_feats (m, c_in), parent row (n,), child offset (n,) -> child features (n, c_out)."""
        w = self.weight.permute(1, 0, 2).reshape(self.weight.shape[1], -1)
        return (parent_feats @ w).view(len(parent_feats), 8, -1)[parent, offset]


# --- dense reference twins ----------------------------------------------------------------------------------------
def _dense_grid(coords: Tensor, feats: Tensor, align: int = 1) -> tuple[Tensor, Tensor]:
    """Scatter sparse features into a dense (1, c, X, Y, Z) grid; returns it and the (aligned) origin."""
    origin = torch.div(coords.min(0).values, align, rounding_mode='floor') * align
    local = coords.long() - origin
    size = (local.max(0).values + 2).tolist()
    size = [s + (s % align) for s in size]
    grid = feats.new_zeros(1, feats.shape[1], *size)
    grid[0, :, local[:, 0], local[:, 1], local[:, 2]] = feats.T
    return grid, origin


def _reference_subm_conv3d(conv: SubmConv3d, coords: Tensor, feats: Tensor) -> Tensor:
    """Dense conv3d (padding 1) on the scattered grid, read back at the input sites: equals SubmConv3d."""
    grid, origin = _dense_grid(coords, feats)
    w = conv.weight.reshape(3, 3, 3, *conv.weight.shape[1:]).permute(4, 3, 0, 1, 2)  # c_out c_in 3 3 3
    out = F.conv3d(grid, w, conv.bias, padding=1)
    local = coords.long() - origin
    return out[0, :, local[:, 0], local[:, 1], local[:, 2]].T


def _reference_down(down: SparseDown, coords: Tensor, feats: Tensor) -> tuple[Tensor, Tensor]:
    """Dense stride-2 conv3d: parent coords (m, 3) and features (m, c_out), parents sorted as parent_map does."""
    grid, origin = _dense_grid(coords, feats, align=2)
    w = down.weight.reshape(2, 2, 2, *down.weight.shape[1:]).permute(4, 3, 0, 1, 2)
    out = F.conv3d(grid, w, stride=2)
    pcoords = torch.unique(torch.div(coords.long(), 2, rounding_mode='floor'), dim=0)
    local = pcoords - torch.div(origin, 2, rounding_mode='floor')
    return pcoords, out[0, :, local[:, 0], local[:, 1], local[:, 2]].T


def _reference_up(up: SparseUp, parent_coords: Tensor, parent_feats: Tensor, coords: Tensor) -> Tensor:
    """Dense conv_transpose3d (kernel 2, stride 2) read back at the child sites `coords`."""
    grid, origin = _dense_grid(parent_coords, parent_feats)
    w = up.weight.reshape(2, 2, 2, *up.weight.shape[1:]).permute(3, 4, 0, 1, 2)  # c_in c_out 2 2 2
    out = F.conv_transpose3d(grid, w, stride=2)
    local = coords.long() - 2 * origin
    return out[0, :, local[:, 0], local[:, 1], local[:, 2]].T


class SparseUNet(nn.Module):
    """Sparse 3D U-Net with stride-2 levels and a residual: V' = V + R(V) (VolSplat step 4, scaled down)."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        self.channels = channels
        self.enc = nn.ModuleList([SubmConv3d(c, c) for c in channels])
        self.down = nn.ModuleList([SparseDown(a, b) for a, b in zip(channels[:-1], channels[1:], strict=True)])
        self.up = nn.ModuleList([SparseUp(b, a) for a, b in zip(channels[:-1], channels[1:], strict=True)])
        self.dec = nn.ModuleList([SubmConv3d(c, c) for c in channels[:-1]])

    def forward(self, coords: Tensor, feats: Tensor) -> Tensor:
        """coords (n, 3) int, feats (n, channels[0]) -> refined feats (n, channels[0])."""
        levels, x = [], feats
        c = coords
        for i, enc in enumerate(self.enc):
            x = F.relu(enc(x, kernel_map(c)))
            if i == len(self.enc) - 1:
                break
            pc, parent, off = parent_map(c)
            levels.append((c, x, parent, off))
            x = F.relu(self.down[i](x, parent, off, len(pc)))
            c = pc
        for i in range(len(self.dec) - 1, -1, -1):
            c, skip, parent, off = levels[i]
            x = F.relu(self.up[i](x, parent, off) + skip)
            x = self.dec[i](x, kernel_map(c))
        return feats + x
