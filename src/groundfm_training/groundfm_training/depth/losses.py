"""StereoAdapter training losses: supervised sequence loss, and the self-supervised stereo losses of the paper."""

import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor


def sequence_loss(sequence: list[Tensor], gt: Tensor, valid: Tensor, gamma: float = 0.9,
                  mono_weight: float = 0.5) -> Tensor:
    """RAFT-Stereo loss: sum_i gamma^(n-i) |d_i - gt| over valid px; sequence[0] (mono) weighted by mono_weight.

    sequence: list of (b, 1, h, w) [px]; gt (b, 1, h, w) [px]; valid (b, 1, h, w) bool.
    """
    n = len(sequence) - 1
    weight = valid.float()
    denom = weight.sum().clamp_min(1.0)
    gt = torch.where(valid, gt, torch.zeros_like(gt))
    loss = mono_weight * (F.smooth_l1_loss(sequence[0], gt, reduction='none') * weight).sum() / denom
    for i, pred in enumerate(sequence[1:], start=1):
        loss = loss + gamma ** (n - i) * ((pred - gt).abs() * weight).sum() / denom
    return loss


def warp_right_to_left(right: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
    """Sample the right image at x - d: right (b, c, h, w), disparity (b, 1, h, w) [px] -> image, in-view mask."""
    b, _, h, w = right.shape
    xs = torch.arange(w, device=right.device, dtype=right.dtype).view(1, 1, w).expand(b, h, w)
    ys = torch.arange(h, device=right.device, dtype=right.dtype).view(1, h, 1).expand(b, h, w)
    x_src = xs - disparity[:, 0]
    grid = torch.stack([2 * x_src / max(w - 1, 1) - 1, 2 * ys / max(h - 1, 1) - 1], dim=-1)
    warped = F.grid_sample(right, grid, mode='bilinear', padding_mode='border', align_corners=True)
    inside = ((x_src >= 0) & (x_src <= w - 1)).unsqueeze(1)
    return warped, inside


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel SSIM over 3x3 windows, images (b, c, h, w) in [0, 1] -> (b, c, h, w) in [-1, 1]."""
    c1, c2 = 0.01**2, 0.03**2
    pool = lambda t: F.avg_pool2d(F.pad(t, (1, 1, 1, 1), mode='reflect'), 3, 1)  # noqa: E731
    mu_x, mu_y = pool(x), pool(y)
    sigma_x = pool(x * x) - mu_x**2
    sigma_y = pool(y * y) - mu_y**2
    sigma_xy = pool(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2))


def photometric_error(left: Tensor, warped: Tensor) -> Tensor:
    """0.85 (1 - SSIM) / 2 + 0.15 L1, per pixel, images in [0, 1] -> (b, 1, h, w)."""
    l1 = (left - warped).abs().mean(1, keepdim=True)
    s = ((1 - ssim(left, warped)) / 2).clamp(0, 1).mean(1, keepdim=True)
    return 0.85 * s + 0.15 * l1


def edge_aware_smoothness(disparity: Tensor, image: Tensor) -> Tensor:
    """First-order smoothness of mean-normalised disparity, down-weighted at image edges (scalar)."""
    d = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-6)
    dx, dy = (d[..., :, 1:] - d[..., :, :-1]).abs(), (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def gradient_matching(pred: Tensor, prior: Tensor, mask: Tensor) -> Tensor:
    """Mean |grad(pred) - grad(prior)| over masked px (both (b, 1, h, w))."""
    loss = pred.new_zeros(())
    for dim in (2, 3):
        gp, gq = torch.diff(pred, dim=dim), torch.diff(prior, dim=dim)
        m = mask.narrow(dim, 0, mask.shape[dim] - 1) & mask.narrow(dim, 1, mask.shape[dim] - 1)
        loss = loss + ((gp - gq).abs() * m).sum() / m.sum().clamp_min(1)
    return loss


def align_scale(prior: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Scale prior (b, 1, h, w) per image so its masked median matches the target's (mono is up to scale)."""
    scales = []
    for p, t, m in zip(prior, target, mask, strict=True):
        pm, tm = p[m], t[m]
        scales.append(tm.median() / pm.median().clamp_min(1e-3) if pm.numel() > 16 else p.new_ones(()))
    return prior * torch.stack(scales).view(-1, 1, 1, 1)


def self_supervised_loss(left: Tensor, right: Tensor, sequence: list[Tensor], mono_prior: Tensor,
                         gamma: float = 0.9, smooth_weight: float = 8e-3, grad_weight: float = 0.01,
                         prior_weight: float = 0.01) -> tuple[Tensor, dict[str, float]]:
    """The paper's stereo stage loss on an unlabelled pair: images (b, 3, h, w) in [0, 255], disparities [px].

    Per iteration (weight gamma^(n-i)): 0.85 SSIM + 0.15 L1 between the left image and the right image warped by the
    estimate (pixels warped from outside the right view and pixels where even the identity warp matches better, as
    in Monodepth2's auto-mask, are left out: occlusion-aware), + edge-aware smoothness; once: mono-prior guidance
    (gradient matching and a masked L1 to the scale-aligned mono disparity, where the photometric term is left out).
    """
    n = len(sequence) - 1
    if n < 1:
        raise ValueError('the self-supervised loss needs at least one refinement iteration, not the mono estimate only')
    left01, right01 = left / 255, right / 255
    identity = photometric_error(left01, right01)
    total = left.new_zeros(())
    logs: dict[str, float] = {}
    for i, pred in enumerate(sequence[1:], start=1):
        warped, inside = warp_right_to_left(right01, pred)
        err = photometric_error(left01, warped)
        mask = inside & (err < identity + 1e-3)
        photo = (err * mask).sum() / mask.sum().clamp_min(1)
        smooth = edge_aware_smoothness(pred, left01)
        total = total + gamma ** (n - i) * (photo + smooth_weight * smooth)
        if i == n:
            logs.update(photo=float(photo.detach()), smooth=float(smooth.detach()))
            final, final_mask = pred, mask
    prior = align_scale(mono_prior, final.detach(), final_mask)
    everywhere = torch.ones_like(final_mask)
    guide = grad_weight * gradient_matching(final, prior, everywhere)
    fallback = ~final_mask
    guide = guide + prior_weight * ((final - prior).abs() * fallback).sum() / fallback.sum().clamp_min(1)
    logs['prior'] = float(guide.detach())
    return total + guide, logs


def correlation_loss(volume: Tensor, gt: Tensor, valid: Tensor, stride: int = 4) -> Tensor:
    """Cross-entropy of the level-0 correlation at the true match: dense, direct supervision of matching features.

    volume (b, h4, w4, w4) scores left x against right x' on the 1/stride grid; gt, valid (b, 1, h, w) [input px].
    The target is split linearly between the two right columns around x - d / stride (RAFT's lookup only trains
    the features near the current estimate; this trains them everywhere, which bootstraps learning on a CPU budget).
    """
    b, h4, w4, _ = volume.shape
    gt_q = gt[..., stride // 2::stride, stride // 2::stride][..., :h4, :w4] / stride  # b 1 h' w'
    ok = valid[..., stride // 2::stride, stride // 2::stride][..., :h4, :w4]
    hh, ww = gt_q.shape[-2:]
    volume = volume[:, :hh, :ww]
    x = torch.arange(ww, device=gt.device, dtype=gt.dtype).view(1, 1, 1, ww)
    target = x - torch.where(ok, gt_q, torch.zeros_like(gt_q))  # right column, fractional
    ok = ok & (target >= 0) & (target <= w4 - 1)
    x0 = target.floor().clamp(0, w4 - 1)
    frac = target - x0
    x1 = (x0 + 1).clamp(max=w4 - 1)
    logp = torch.log_softmax(volume, dim=-1)  # b h' w' w4
    lp0 = torch.gather(logp, 3, x0.long()[:, 0].unsqueeze(-1))[..., 0]
    lp1 = torch.gather(logp, 3, x1.long()[:, 0].unsqueeze(-1))[..., 0]
    nll = -((1 - frac[:, 0]) * lp0 + frac[:, 0] * lp1)
    mask = ok[:, 0].float()
    return (nll * mask).sum() / mask.sum().clamp_min(1.0)
