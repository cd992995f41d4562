"""Differentiable Gaussian splatting: gsplat on CUDA when installed, else a pure-torch "pixel pairs" rasterizer.

Camera: pinhole K (3, 3) [px] with pixel centres at integer coordinates, T_cam_world (4, 4) taking map-frame points
into the optical frame (x right, y down, z forward) [m]. Projection is EWA splatting as in 3DGS: 2-D covariance
J W Sigma W^T J^T + 0.3 I, a 3-sigma pixel box per Gaussian, alpha = min(0.99, o exp(-d^T Sigma2^-1 d / 2)) kept above
1/255, front-to-back compositing. Colour is degree-2 SH evaluated along the camera-to-Gaussian direction, + 0.5.

Pure torch: each Gaussian is expanded to the (pixel, Gaussian) pairs of its box, the pairs are sorted by (pixel,
depth) with one argsort, and transmittance is a segmented cumulative sum of log(1 - alpha) (float64). Everything is
autograd-differentiable. `_reference_render` is the brute-force twin: every pixel against every Gaussian.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from groundfm.mapping.volsplat import Gaussians, quat_to_matrix_wxyz

_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C0 = 0.28209479177387814
ALPHA_MIN = 1.0 / 255.0


@dataclass
class Camera:
    """A pinhole camera: k (3, 3) [px], t_cam_world (4, 4) map -> optical frame, image width and height [px]."""

    k: Tensor
    t_cam_world: Tensor
    width: int
    height: int


def eval_sh2(sh: Tensor, dirs: Tensor) -> Tensor:
    """Degree-2 real SH (n, 9, 3) along unit directions (n, 3) -> colour (n, 3), clamped at 0."""
    x, y, z = dirs.unbind(-1)
    basis = torch.stack([
        torch.full_like(x, _C0), -_C1 * y, _C1 * z, -_C1 * x,
        _C2[0] * x * y, _C2[1] * y * z, _C2[2] * (2 * z * z - x * x - y * y), _C2[3] * x * z,
        _C2[4] * (x * x - y * y)], -1)  # n 9
    return ((basis[:, :, None] * sh).sum(1) + 0.5).clamp(min=0.0)


def project(g: Gaussians, cam: Camera, near: float = 0.05) -> dict[str, Tensor]:
    """Screen-space Gaussians: uv (n, 2) [px], z (n,) [m], conic (n, 3) = (a, b, c) of Sigma2^-1, box (n, 4) x0 y0 x1 y1
    inclusive, colour (n, 3), opacity (n,), valid (n,) bool."""
    rot, trans = cam.t_cam_world[:3, :3].to(g.means), cam.t_cam_world[:3, 3].to(g.means)
    k = cam.k.to(g.means)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    pc = g.means @ rot.T + trans
    z = pc[:, 2]
    zc = z.clamp(min=near)
    lim_x, lim_y = 1.3 * (cam.width / 2) / fx, 1.3 * (cam.height / 2) / fy
    tx = (pc[:, 0] / zc).clamp(-lim_x - cx / fx, lim_x + (cam.width - cx) / fx) * zc
    ty = (pc[:, 1] / zc).clamp(-lim_y - cy / fy, lim_y + (cam.height - cy) / fy) * zc
    zeros = torch.zeros_like(zc)
    jac = torch.stack([torch.stack([fx / zc, zeros, -fx * tx / zc ** 2], -1),
                       torch.stack([zeros, fy / zc, -fy * ty / zc ** 2], -1)], -2)  # n 2 3
    m = quat_to_matrix_wxyz(g.quats) * g.scales[:, None, :]
    cov_world = m @ m.transpose(1, 2)
    t = jac @ rot
    cov2 = t @ cov_world @ t.transpose(1, 2)
    a, b, c = cov2[:, 0, 0] + 0.3, cov2[:, 0, 1], cov2[:, 1, 1] + 0.3
    det = a * c - b * b
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conic = torch.stack([c / det_safe, -b / det_safe, a / det_safe], -1)
    # Axis-aligned 3-sigma extent of the ellipse (tighter than a circle of the largest eigenvalue).
    rx, ry = 3.0 * torch.sqrt(a.detach()), 3.0 * torch.sqrt(c.detach())
    u = fx * pc[:, 0] / zc + cx
    v = fy * pc[:, 1] / zc + cy
    ud, vd = u.detach(), v.detach()
    box = torch.stack([torch.floor(ud - rx).clamp(min=0), torch.floor(vd - ry).clamp(min=0),
                       torch.ceil(ud + rx).clamp(max=cam.width - 1),
                       torch.ceil(vd + ry).clamp(max=cam.height - 1)], -1).long()
    valid = (z > near) & (det > 0) & (box[:, 0] <= box[:, 2]) & (box[:, 1] <= box[:, 3])
    cam_center = -rot.T @ trans
    dirs = torch.nn.functional.normalize(g.means - cam_center, dim=-1)
    color = eval_sh2(g.sh, dirs)
    return {'uv': torch.stack([u, v], -1), 'z': z, 'conic': conic, 'box': box, 'color': color,
            'opacity': g.opacities, 'valid': valid}


def _composite(pix: Tensor, gid: Tensor, alpha: Tensor, p: dict[str, Tensor], n_pix: int,
               background: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Front-to-back compositing of (pixel, Gaussian, alpha) triples already sorted by (pixel, depth)."""
    log1m = torch.log1p(-alpha.double())
    cs = torch.cumsum(log1m, 0) - log1m  # exclusive running sum
    start = torch.ones_like(pix, dtype=torch.bool)
    start[1:] = pix[1:] != pix[:-1]
    seg = torch.cumsum(start.long(), 0) - 1
    trans = torch.exp(cs - cs[start][seg]).to(alpha.dtype)
    w = alpha * trans
    rgb = alpha.new_zeros(n_pix, 3).index_add(0, pix, w[:, None] * p['color'][gid])
    depth = alpha.new_zeros(n_pix).index_add(0, pix, w * p['z'][gid])
    acc = alpha.new_zeros(n_pix).index_add(0, pix, w)
    rgb = rgb + (1.0 - acc)[:, None] * background.to(rgb)
    return rgb, depth / acc.clamp(min=1e-6), acc


def _render_torch(g: Gaussians, cam: Camera, background: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    w_img, h_img = cam.width, cam.height
    p = project(g, cam)
    idx = torch.nonzero(p['valid']).squeeze(1)
    n_pix = w_img * h_img
    if len(idx) == 0:
        empty = g.means.new_zeros(n_pix)
        return (background.to(g.means).expand(h_img, w_img, 3).clone(), empty.view(h_img, w_img),
                empty.view(h_img, w_img))
    box = p['box'][idx]
    bw, bh = box[:, 2] - box[:, 0] + 1, box[:, 3] - box[:, 1] + 1
    cnt = bw * bh
    gl = torch.repeat_interleave(torch.arange(len(idx)), cnt)  # local Gaussian of each pair
    # One gather per pair for the integer box and one for the floats (fewer index ops on millions of pairs).
    ibox = torch.stack([box[:, 0], box[:, 1], bw, torch.cumsum(cnt, 0) - cnt], 1)[gl]
    local = torch.arange(len(gl)) - ibox[:, 3]
    px = ibox[:, 0] + local % ibox[:, 2]
    py = ibox[:, 1] + torch.div(local, ibox[:, 2], rounding_mode='floor')
    gid = idx[gl]
    fl = torch.cat([p['uv'], p['conic'], p['opacity'][:, None]], 1)[idx][gl]
    dx, dy = px.to(fl) - fl[:, 0], py.to(fl) - fl[:, 1]
    power = -0.5 * (fl[:, 2] * dx * dx + fl[:, 4] * dy * dy) - fl[:, 3] * dx * dy
    alpha = (fl[:, 5] * torch.exp(power)).clamp(max=0.99)
    keep = (power <= 0) & (alpha >= ALPHA_MIN)
    gid, alpha, pix = gid[keep], alpha[keep], (py * w_img + px)[keep]
    rank_all = torch.zeros(len(g), dtype=torch.long)
    rank_all[torch.argsort(p['z'].detach(), stable=True)] = torch.arange(len(g))
    key = pix * len(g) + rank_all[gid]
    srt = torch.argsort(key)
    rgb, depth, acc = _composite(pix[srt], gid[srt], alpha[srt], p, n_pix, background)
    return rgb.view(h_img, w_img, 3), depth.view(h_img, w_img), acc.view(h_img, w_img)


def _reference_render(g: Gaussians, cam: Camera, background: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Brute force: every pixel against every Gaussian, sorted by depth, composited with cumprod. Small inputs only."""
    background = torch.zeros(3) if background is None else background
    p = project(g, cam)
    ys, xs = torch.meshgrid(torch.arange(cam.height), torch.arange(cam.width), indexing='ij')
    px, py = xs.reshape(-1, 1).to(g.means), ys.reshape(-1, 1).to(g.means)  # HW 1
    order = torch.argsort(p['z'].detach(), stable=True)
    uv, conic, box = p['uv'][order], p['conic'][order], p['box'][order]
    dx, dy = px - uv[:, 0], py - uv[:, 1]  # HW n
    power = -0.5 * (conic[:, 0] * dx * dx + conic[:, 2] * dy * dy) - conic[:, 1] * dx * dy
    alpha = (p['opacity'][order] * torch.exp(power)).clamp(max=0.99)
    inside = (px >= box[:, 0]) & (px <= box[:, 2]) & (py >= box[:, 1]) & (py <= box[:, 3])
    keep = inside & p['valid'][order] & (power <= 0) & (alpha >= ALPHA_MIN)
    alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    w = alpha * trans
    acc = w.sum(1)
    rgb = w @ p['color'][order] + (1 - acc)[:, None] * background.to(w)
    depth = (w * p['z'][order]).sum(1) / acc.clamp(min=1e-6)
    return rgb.view(cam.height, cam.width, 3), depth.view(cam.height, cam.width), acc.view(cam.height, cam.width)


def _gsplat_available(device: torch.device) -> bool:
    if device.type != 'cuda' or not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


def render(g: Gaussians, cam: Camera, background: Tensor | None = None,
           backend: str = 'auto') -> tuple[Tensor, Tensor, Tensor]:
    """Render rgb (H, W, 3) in [0, 1], expected depth (H, W) [m] and accumulated alpha (H, W).

    backend: 'auto' (gsplat when the Gaussians are on CUDA and gsplat imports, else torch), 'torch' or 'gsplat'.
    """
    background = torch.zeros(3) if background is None else background
    use_gsplat = backend == 'gsplat' or (backend == 'auto' and _gsplat_available(g.means.device))
    if not use_gsplat:
        return _render_torch(g, cam, background)
    import gsplat

    dev = g.means.device
    colors, alphas, _ = gsplat.rasterization(
        g.means, g.quats, g.scales, g.opacities, g.sh, cam.t_cam_world[None].to(dev).float(),
        cam.k[None].to(dev).float(), cam.width, cam.height, sh_degree=2, render_mode='RGB+ED',
        backgrounds=background[None].to(dev).float())
    return colors[0, ..., :3], colors[0, ..., 3], alphas[0, ..., 0]
