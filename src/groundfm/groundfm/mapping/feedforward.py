"""VolSplat's feed-forward multi-view path at small scale, with ZPressor compression and PM-Loss (no ROS).

views (v, 3, H, W) + intrinsics + poses -> per-view depth from a plane-sweep cost volume -> per-pixel features lifted
to 3-D -> voxelised (mean feature, centroid, mean colour) -> sparse 3-D U-Net with a residual -> 38-parameter head
(volsplat.decode) -> Gaussians.

Deviations from the papers, all for a CPU-sized model trained here in minutes:
- Cost volume (VolSplat step 1, DepthSplat-style): features at 1/4 resolution from a small CNN (no pretrained ViT, no
  cross-view transformer), `num_depths` inverse-depth candidates (paper: 128), dot-product correlation averaged over
  the `num_neighbours` nearest views, a 2-D CNN regressing a softmax over candidates. With no pretrained depth model,
  training may add an L1 on the depth against the sim's ground truth (train.py --depth-weight).
- Sparse U-Net: channels (32, 64, 128) instead of 64/128/256 + 512 bottleneck.
- ZPressor (arXiv 2505.23734): anchors by farthest-point sampling on camera centres, every other view joins its
  nearest anchor, then per cluster `zp_layers` x (cross-attention anchor <- cluster tokens, self-attention), on
  1/4-resolution tokens; depth, lifting and the head run on the anchors only.
- PM-Loss (arXiv 2506.05327): the pseudo ground-truth pointmap comes from a frozen pointmap model in the paper; in sim
  we use the ground-truth depth of the context views instead (an oracle stand-in), Sim(3)-aligned with Umeyama.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from torch import Tensor, nn

from groundfm.mapping.sparse_conv import SparseUNet
from groundfm.mapping.volsplat import Gaussians, _softplus_inv, decode, rgb_to_sh_dc


@dataclass(frozen=True)
class FeedForwardConfig:
    """Sizes of the feed-forward VolSplat model."""

    feat_dim: int = 32  # image features at 1/4 resolution
    num_depths: int = 32  # inverse-depth candidates of the cost volume
    near: float = 0.3  # nearest candidate depth [m]
    far: float = 8.0  # farthest candidate depth [m]
    num_neighbours: int = 2  # views each view is matched against
    voxel_size: float = 0.06  # [m]
    unet_channels: tuple[int, ...] = (32, 64, 128)
    use_zpressor: bool = False  # compress the context views into anchors
    num_anchors: int = 2
    zp_layers: int = 2
    zp_heads: int = 4


def umeyama(src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form Sim(3) (scale, R (3, 3), t (3,)) minimising |s R src + t - dst|^2 over matched points (n, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, sig, vt = torch.linalg.svd(cov)
    d = torch.ones(3, dtype=src.dtype)
    d[2] = torch.sign(torch.linalg.det(u @ vt))
    rot = u @ torch.diag(d) @ vt
    var = (xs ** 2).sum() / len(src)
    scale = (sig * d).sum() / var.clamp(min=1e-12)
    return scale, rot, mu_d - scale * rot @ mu_s


def pm_loss(centres: Tensor, pointmap: Tensor, max_points: int = 4096, damp: float = 100.0) -> Tensor:
    """PM-Loss: one-way Chamfer from predicted Gaussian centres (n, 3) to a pseudo-GT pointmap (m, 3) after a Sim(3)
    alignment of the pointmap onto the centres (Umeyama on index-matched subsamples; exact when the pointmap is a
    similarity transform of the centres' points). NaN -> 0, values above `damp` grow as log."""
    g = torch.Generator().manual_seed(0)
    n = min(len(centres), len(pointmap), max_points)
    ic = torch.randperm(len(centres), generator=g)[:n] if len(centres) > n else torch.arange(n)
    ip = ic if len(pointmap) == len(centres) else torch.randperm(len(pointmap), generator=g)[:n]
    with torch.no_grad():
        scale, rot, t = umeyama(pointmap[ip].double(), centres[ic].detach().double())
    aligned = (scale * pointmap.double() @ rot.T + t).to(centres.dtype)
    dist = torch.cdist(centres[ic], aligned).min(1).values ** 2
    loss = torch.nan_to_num(dist.mean(), nan=0.0)
    return torch.where(loss > damp, damp + torch.log1p(loss - damp), loss)


class ImageEncoder(nn.Module):
    """RGB (v, 3, H, W) -> features (v, c, H/4, W/4)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, c // 2, 3, 2, 1), nn.ReLU(), nn.Conv2d(c // 2, c, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """(v, 3, H, W) in [0, 1] -> (v, c, H/4, W/4)."""
        return self.net(x - 0.5)


def plane_sweep(f_ref: Tensor, f_src: Tensor, k: Tensor, t_src_ref: Tensor, depths: Tensor) -> Tensor:
    """Correlation cost (d, h, w) of ref features (c, h, w) with src features warped at each candidate depth (d,).

    k (3, 3) is the intrinsic matrix at the feature resolution; t_src_ref (4, 4) maps ref camera points to src.
    """
    c, h, w = f_ref.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=f_ref.dtype), torch.arange(w, dtype=f_ref.dtype), indexing='ij')
    rays = torch.stack([(xs - k[0, 2]) / k[0, 0], (ys - k[1, 2]) / k[1, 1], torch.ones_like(xs)], 0).reshape(3, -1)
    pts = depths[:, None, None] * rays[None]  # d 3 hw
    ps = t_src_ref[:3, :3] @ pts + t_src_ref[:3, 3:4]
    z = ps[:, 2].clamp(min=1e-3)
    u = k[0, 0] * ps[:, 0] / z + k[0, 2]
    v = k[1, 1] * ps[:, 1] / z + k[1, 2]
    grid = torch.stack([2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1], -1).reshape(len(depths), h, w, 2)
    warped = F.grid_sample(f_src[None].expand(len(depths), -1, -1, -1), grid, align_corners=True,
                           padding_mode='zeros')  # d c h w
    return (warped * f_ref[None]).sum(1) / math.sqrt(c)


class DepthHead(nn.Module):
    """Cost (d, h, w) + features (c, h, w) -> softmax over candidates -> depth (h, w) [m] and confidence (h, w)."""

    def __init__(self, c: int, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c + d, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(),
                                 nn.Conv2d(64, d, 3, 1, 1))

    def forward(self, cost: Tensor, feats: Tensor, inv_depths: Tensor) -> tuple[Tensor, Tensor]:
        """Expected inverse depth over the candidates -> depth (v, h, w) and max probability (v, h, w)."""
        logits = self.net(torch.cat([cost, feats], 1))
        prob = logits.softmax(1)
        inv = (prob * inv_depths[None, :, None, None]).sum(1)
        return 1.0 / inv, prob.max(1).values


class ZPressor(nn.Module):
    """Fold every context view's tokens into its nearest anchor view (cross- then self-attention, zp_layers times)."""

    def __init__(self, c: int, layers: int, heads: int) -> None:
        super().__init__()
        self.cross = nn.ModuleList([nn.MultiheadAttention(c, heads, batch_first=True) for _ in range(layers)])
        self.self_attn = nn.ModuleList([nn.MultiheadAttention(c, heads, batch_first=True) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(c) for _ in range(2 * layers)])

    @staticmethod
    def select_anchors(centres: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Farthest-point sampling on camera centres (v, 3): anchor indices (k,), cluster (anchor position) per view."""
        k = min(k, len(centres))
        chosen = [0]
        dist = (centres - centres[0]).norm(dim=1)
        for _ in range(k - 1):
            nxt = int(dist.argmax())
            chosen.append(nxt)
            dist = torch.minimum(dist, (centres - centres[nxt]).norm(dim=1))
        anchors = torch.tensor(chosen)
        cluster = torch.cdist(centres, centres[anchors]).argmin(1)
        cluster[anchors] = torch.arange(k)
        return anchors, cluster

    def forward(self, feats: Tensor, anchors: Tensor, cluster: Tensor) -> Tensor:
        """feats (v, c, h, w) -> fused anchor features (k, c, h, w)."""
        v, c, h, w = feats.shape
        tokens = feats.flatten(2).transpose(1, 2)  # v hw c
        out = []
        for a, view in enumerate(anchors.tolist()):
            q = tokens[view:view + 1]
            kv = tokens[cluster == a].reshape(1, -1, c)
            for i, (cross, self_attn) in enumerate(zip(self.cross, self.self_attn, strict=True)):
                q = q + cross(self.norms[2 * i](q), kv, kv, need_weights=False)[0]
                x = self.norms[2 * i + 1](q)
                q = q + self_attn(x, x, x, need_weights=False)[0]
            out.append(q[0].transpose(0, 1).reshape(c, h, w))
        return torch.stack(out)


class FeedForwardVolSplat(nn.Module):
    """Context views -> Gaussians, VolSplat style (see the module docstring)."""

    def __init__(self, cfg: FeedForwardConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or FeedForwardConfig()
        c0 = cfg.unet_channels[0]
        self.encoder = ImageEncoder(cfg.feat_dim)
        self.depth_head = DepthHead(cfg.feat_dim, cfg.num_depths)
        self.zpressor = ZPressor(cfg.feat_dim, cfg.zp_layers, cfg.zp_heads) if cfg.use_zpressor else None
        self.lift_proj = nn.Linear(cfg.feat_dim + 3 + 1, c0)
        self.unet = SparseUNet(cfg.unet_channels)
        self.head = nn.Sequential(nn.Linear(c0, c0), nn.ReLU(), nn.Linear(c0, 38))
        nn.init.zeros_(self.head[-1].weight)
        bias = torch.zeros(38)
        bias[0] = 2.0  # opacity 0.88
        bias[4:7] = 4.0 + _softplus_inv(torch.tensor(0.5 * cfg.voxel_size))
        bias[7] = 1.0  # identity rotation
        with torch.no_grad():
            self.head[-1].bias.copy_(bias)

    def depths(self, feats: Tensor, k4: Tensor, poses: Tensor, ref_views: Tensor) -> tuple[Tensor, Tensor]:
        """Plane-sweep depth (r, h, w) [m] and confidence for the views ref_views, matched to their nearest views."""
        cfg = self.cfg
        inv = torch.linspace(1.0 / cfg.near, 1.0 / cfg.far, cfg.num_depths)
        centres = poses[:, :3, 3]
        costs = []
        for r in ref_views.tolist():
            dist = (centres - centres[r]).norm(dim=1)
            dist[r] = float('inf')
            nbrs = dist.argsort()[:min(cfg.num_neighbours, len(poses) - 1)]
            cost = sum(plane_sweep(feats[r], feats[s], k4, torch.linalg.inv(poses[s]) @ poses[r], 1.0 / inv)
                       for s in nbrs.tolist()) / max(len(nbrs), 1)
            costs.append(cost)
        return self.depth_head(torch.stack(costs), feats[ref_views], inv)

    def forward(self, images: Tensor, k: Tensor, poses: Tensor) -> tuple[Gaussians, dict[str, Tensor]]:
        """images (v, 3, H, W) in [0, 1], k (3, 3) [px], poses (v, 4, 4) camera -> map: Gaussians and extras (depth)."""
        cfg = self.cfg
        v, _, h_img, w_img = images.shape
        feats = self.encoder(images)
        h4, w4 = feats.shape[-2:]
        k4 = k.clone()
        k4[0] *= w4 / w_img
        k4[1] *= h4 / h_img
        k4[0, 2] = (k[0, 2] + 0.5) * w4 / w_img - 0.5
        k4[1, 2] = (k[1, 2] + 0.5) * h4 / h_img - 0.5
        refs = torch.arange(v)
        ref_feats = feats
        if self.zpressor is not None and v > cfg.num_anchors:
            refs, cluster = ZPressor.select_anchors(poses[:, :3, 3], cfg.num_anchors)
            ref_feats = self.zpressor(feats, refs, cluster)
        depth4, conf4 = self.depths(feats, k4, poses, refs)
        depth = F.interpolate(depth4[:, None], size=(h_img, w_img), mode='bilinear', align_corners=False)[:, 0]
        conf = F.interpolate(conf4[:, None], size=(h_img, w_img), mode='bilinear', align_corners=False)[:, 0]
        up = F.interpolate(ref_feats, size=(h_img, w_img), mode='bilinear', align_corners=False)
        rgb = images[refs]
        # Lift: P = R D(u, v) K^-1 [u, v, 1] + T  (VolSplat step 2).
        ys, xs = torch.meshgrid(torch.arange(h_img, dtype=k.dtype), torch.arange(w_img, dtype=k.dtype),
                                indexing='ij')
        rays = torch.stack([(xs - k[0, 2]) / k[0, 0], (ys - k[1, 2]) / k[1, 1], torch.ones_like(xs)], 0)
        cam_pts = depth[:, None] * rays[None]  # r 3 H W
        p = poses[refs]
        world = torch.einsum('rij,rjhw->rihw', p[:, :3, :3], cam_pts) + p[:, :3, 3, None, None]
        pts = world.permute(0, 2, 3, 1).reshape(-1, 3)
        pix_feats = torch.cat([up, rgb, conf[:, None]], 1).permute(0, 2, 3, 1).reshape(-1, cfg.feat_dim + 4)
        colors = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
        # Voxelise: index = round(P / v_s); mean feature, centroid and colour per voxel (step 3).
        coords = torch.round(pts.detach() / cfg.voxel_size).long()
        ucoords, inv = torch.unique(coords, dim=0, return_inverse=True)
        n = len(ucoords)
        cnt = torch.zeros(n).index_add_(0, inv, torch.ones(len(inv)))[:, None]

        def vmean(x: Tensor) -> Tensor:
            return x.new_zeros(n, x.shape[1]).index_add(0, inv, x) / cnt

        vfeat, centroid, vcolor = vmean(pix_feats), vmean(pts), vmean(colors)
        x = self.unet(ucoords, self.lift_proj(vfeat))  # V' = V + R(V) (step 4)
        raw = self.head(x)
        raw = torch.cat([raw[:, :11], raw[:, 11:14] + rgb_to_sh_dc(vcolor), raw[:, 14:]], 1)  # SH DC from colour
        return decode(raw, centroid, cfg.voxel_size), {'depth': depth, 'conf': conf, 'views': refs}
