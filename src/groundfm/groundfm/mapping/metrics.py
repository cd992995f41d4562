"""Image and geometry metrics for the mapping benchmark and training (no ROS)."""

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor


def psnr(pred: Tensor, target: Tensor) -> float:
    """PSNR [dB] of images in [0, 1], any matching shape."""
    mse = F.mse_loss(pred.clamp(0, 1), target).item()
    return float(10.0 * np.log10(1.0 / max(mse, 1e-12)))


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of (H, W, 3) images in [0, 1], Gaussian window, per channel (Wang et al. 2004); differentiable."""
    x, y = pred.permute(2, 0, 1)[None], target.permute(2, 0, 1)[None]
    coords = torch.arange(window, dtype=x.dtype) - window // 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = (g / g.sum())
    kernel = (g[:, None] * g[None]).expand(3, 1, window, window).contiguous()

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=3)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.mean()


def accuracy_completeness(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Mean distance pred -> gt (accuracy) and gt -> pred (completeness), point sets (n, 3), (m, 3) [m]."""
    from scipy.spatial import cKDTree

    if len(pred) == 0 or len(gt) == 0:
        return float('inf'), float('inf')
    acc = cKDTree(gt).query(pred, workers=1)[0]
    comp = cKDTree(pred).query(gt, workers=1)[0]
    return float(acc.mean()), float(comp.mean())


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """One point (the first) per voxel of edge `voxel` [m]."""
    keys = np.round(points / voxel).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    return points[np.sort(first)]
