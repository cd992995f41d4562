"""VolSplat's feed-forward multi-view path at small scale, with ZPressor compression and PM-Loss (no ROS).

views (v, 3, H, W) + intrinsics + poses -> per-view depth from a plane-sweep cost volume -> per-pixel features lifted
to 3-D -> voxelised (mean feature, centroid, mean colour) -> sparse 3-D U-Net with a residual -> 38-parameter head
(volsplat.decode) -> Gaussians.

Deviations from the papers, all for a CPU-sized model trained here in minutes:
- Cost volume (VolSplat step 1, DepthSplat-style): features at 1/4 resolution from a small CNN (no pretrained ViT, no
  cross-view transformer), `num_depths` inverse-depth candidates (paper: 128), dot-product correlation averaged over
  the `num_neighbours` nearest views, a small 2-D U-Net (which also reads the pixel rays) regressing a softmax over
  candidates. With no pretrained depth model, training may add an L1 on log depth against the sim's ground truth
  (train.py --depth-weight).
- Sparse U-Net: channels (32, 64, 128) instead of 64/128/256 + 512 bottleneck.
- ZPressor (arXiv 2505.23734): anchors by farthest-point sampling on camera centres, every other view joins its
  nearest anchor, then per cluster `zp_layers` x (cross-attention anchor <- cluster tokens, self-attention), on
  1/4-resolution tokens; depth, lifting and the head run on the anchors only. The anchors' cost volumes still match
  against their nearest views among all context views (anchors are far apart by construction, so matching anchors
  only to anchors would leave little overlap); the fused anchor features feed the depth head and the lifted features.
- PM-Loss (arXiv 2506.05327): the pseudo ground-truth pointmap comes from a frozen pointmap model in the paper; in sim
  we use the ground-truth depth of the context views instead (an oracle stand-in), Sim(3)-aligned with Umeyama. The
  paper's Gaussians are pixel-aligned, so the alignment uses pixel correspondences; ours are voxel-aligned, so the
  alignment uses the lifted per-pixel points (before voxelisation) and the Chamfer runs from the voxel Gaussians'
  centres.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
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
    near: float = 0.15  # nearest candidate depth [m] (the Go2 head camera sees the floor from ~0.15 m)
    far: float = 6.0  # farthest candidate depth [m]
    num_neighbours: int = 2  # views each view is matched against
    voxel_size: float = 0.06  # [m]
    unet_channels: tuple[int, ...] = (32, 64, 128)
    use_zpressor: bool = False  # compress the context views into anchors
    num_anchors: int = 2
    zp_layers: int = 2
    zp_heads: int = 4
    image_scale: float = 1.0  # predict() resizes the input views by this first (the resolution it was trained at)


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


def pm_loss(centres: Tensor, pointmap: Tensor, pred_points: Tensor | None = None, max_points: int = 4096,
            damp: float = 100.0) -> Tensor:
    """PM-Loss: one-way Chamfer (mean squared distance [m^2]) from predicted Gaussian centres (n, 3) to a pseudo-GT
    pointmap (m, 3) after a Sim(3) alignment of the pointmap onto the prediction.

    The alignment (Umeyama, no gradient) needs correspondences: `pred_points` (m, 3) are the predicted per-pixel points
    of the same pixels as `pointmap` (the paper's pixel-aligned Gaussian centres; here the lifted points before
    voxelisation). Without them the centres themselves must be index-matched to the pointmap (n == m). NaN -> 0;
    values above `damp` grow as log. The nearest pointmap point of each centre is found without gradient; the distance
    to it carries the gradient to the centres.
    """
    ref = centres if pred_points is None else pred_points
    if len(ref) != len(pointmap):
        raise ValueError(f'pm_loss needs pointmap ({len(pointmap)}) index-matched to pred_points or centres '
                         f'({len(ref)}): pass the per-pixel predicted points of the pointmap pixels as pred_points')
    if len(centres) == 0 or len(pointmap) < 3:
        return centres.sum() * 0.0
    g = torch.Generator().manual_seed(0)
    ia = torch.randperm(len(pointmap), generator=g)[:max_points]
    with torch.no_grad():
        scale, rot, t = umeyama(pointmap[ia].double(), ref[ia].detach().double())
        aligned = (scale * pointmap.double() @ rot.T + t).to(centres.dtype)
        ic = torch.randperm(len(centres), generator=g)[:max_points]
        ok = torch.isfinite(aligned).all(1)
        if not ok.any():
            return centres.sum() * 0.0
        aligned = aligned[ok]
        from scipy.spatial import cKDTree

        query = torch.nan_to_num(centres[ic].detach()).numpy()
        nn_idx = torch.from_numpy(cKDTree(aligned.numpy()).query(query, workers=1)[1]).long()
    dist = ((centres[ic] - aligned[nn_idx]) ** 2).sum(1)
    loss = torch.nan_to_num(dist.mean(), nan=0.0)
    return torch.where(loss > damp, damp + torch.log1p((loss - damp).clamp(min=0)), loss)


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
    grid = torch.stack([2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1], -1)
    grid = torch.where((ps[:, 2] > 1e-3)[..., None], grid, torch.full_like(grid, 2.0))  # behind src: no match
    grid = grid.reshape(len(depths), h, w, 2)
    warped = F.grid_sample(f_src[None].expand(len(depths), -1, -1, -1), grid, align_corners=True,
                           padding_mode='zeros')  # d c h w
    return (warped * f_ref[None]).sum(1) / math.sqrt(c)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.ReLU())


class DepthHead(nn.Module):
    """A small 2-D U-Net (two stride-2 levels) on cost (v, d, h, w) + features (v, c, h, w) + the pixel rays
    (v, 2, h, w) -> softmax over the candidates -> depth and confidence. The rays let it learn where the floor is for
    a camera at a fixed height, a monocular cue the cost volume alone lacks at this resolution."""

    def __init__(self, c: int, d: int, width: int = 64) -> None:
        super().__init__()
        self.inp = nn.Sequential(_conv(c + d + 2, width), _conv(width, width))
        self.down1, self.down2 = _conv(width, width + 32, 2), _conv(width + 32, width + 64, 2)
        self.mid = _conv(width + 64, width + 64)
        self.up2, self.up1 = _conv(2 * width + 96, width + 32), _conv(2 * width + 32, width)
        self.out = nn.Conv2d(width, d, 3, 1, 1)

    def forward(self, cost: Tensor, feats: Tensor, rays: Tensor, inv_depths: Tensor) -> tuple[Tensor, Tensor]:
        """Expected inverse depth over the candidates (d,) -> depth (v, h, w) [m] and max probability (v, h, w)."""
        x0 = self.inp(torch.cat([cost, feats, rays], 1))
        x1 = self.down1(x0)
        x2 = self.mid(self.down2(x1))
        x1 = self.up2(torch.cat([x1, F.interpolate(x2, size=x1.shape[-2:], mode='bilinear')], 1))
        x0 = self.up1(torch.cat([x0, F.interpolate(x1, size=x0.shape[-2:], mode='bilinear')], 1))
        prob = self.out(x0).softmax(1)
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

    def depths(self, feats: Tensor, k4: Tensor, poses: Tensor, ref_views: Tensor,
               ref_feats: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Plane-sweep depth (r, h, w) [m] and confidence (r, h, w) of the views ref_views (r,), each matched against
        its `num_neighbours` nearest views; feats (v, c, h, w), k4 (3, 3) at feature resolution, poses (v, 4, 4).
        The depth head reads the cost and `ref_feats` (r, c, h, w; default feats[ref_views], ZPressor: the fused
        anchor features)."""
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
        h, w = feats.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=feats.dtype), torch.arange(w, dtype=feats.dtype), indexing='ij')
        rays = torch.stack([(xs - k4[0, 2]) / k4[0, 0], (ys - k4[1, 2]) / k4[1, 1]])[None]  # 1 2 h w
        rays = rays.expand(len(costs), -1, -1, -1)
        return self.depth_head(torch.stack(costs), feats[ref_views] if ref_feats is None else ref_feats, rays, inv)

    def forward(self, images: Tensor, k: Tensor, poses: Tensor) -> tuple[Gaussians, dict[str, Tensor]]:
        """images (v, 3, H, W) in [0, 1], k (3, 3) [px], poses (v, 4, 4) camera -> map: Gaussians and extras:
        depth (r, H, W) [m] and conf (r, H, W) of the views that were lifted, their indices `views` (r,) (all views,
        or the ZPressor anchors), `points` (r, H, W, 3), every lifted pixel in the map frame [m], and per Gaussian its
        voxel `voxels` (n, 3) int and the `centroids` (n, 3) [m] of the voxel's points."""
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
        depth4, conf4 = self.depths(feats, k4, poses, refs, ref_feats)
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
        extras = {'depth': depth, 'conf': conf, 'views': refs, 'points': world.permute(0, 2, 3, 1),
                  'voxels': ucoords, 'centroids': centroid}
        return decode(raw, centroid, cfg.voxel_size), extras


def scale_intrinsics(k: Tensor | np.ndarray, scale: float) -> Tensor:
    """K (3, 3) [px] of an image resized by `scale`, pixel centres at integer coordinates."""
    k = torch.as_tensor(np.asarray(k), dtype=torch.float32).clone()
    cx, cy = float(k[0, 2]), float(k[1, 2])
    k[:2] *= scale
    k[0, 2] = (cx + 0.5) * scale - 0.5
    k[1, 2] = (cy + 0.5) * scale - 0.5
    return k


def resize_views(rgb: np.ndarray, scale: float) -> Tensor:
    """uint8 views (v, H, W, 3) -> float images (v, 3, round(H s), round(W s)) in [0, 1], area-averaged."""
    img = torch.from_numpy(np.ascontiguousarray(rgb)).float().permute(0, 3, 1, 2) / 255.0
    if scale == 1.0:
        return img
    size = (round(img.shape[2] * scale), round(img.shape[3] * scale))
    return F.interpolate(img, size=size, mode='area')


def resize_depth(depth: np.ndarray, scale: float) -> Tensor:
    """Planar depth (v, H, W) [m], NaN = none -> (v, round(H s), round(W s)): mean of the valid pixels under each
    output pixel, NaN where none is valid."""
    d = torch.from_numpy(np.ascontiguousarray(depth)).float()[:, None]
    ok = torch.isfinite(d)
    if scale == 1.0:
        return d[:, 0]
    size = (round(d.shape[2] * scale), round(d.shape[3] * scale))
    num = F.interpolate(torch.where(ok, d, torch.zeros_like(d)), size=size, mode='area')
    den = F.interpolate(ok.float(), size=size, mode='area')
    return torch.where(den > 0.5, num / den.clamp(min=1e-6), torch.full_like(num, float('nan')))[:, 0]


def save_feedforward(model: FeedForwardVolSplat, path: str | Path, extra_metadata: dict[str, str] | None = None
                     ) -> Path:
    """Write the weights as safetensors (atomically), with the config JSON in the metadata; returns the path."""
    from safetensors.torch import save

    from groundfm.io import atomic_write_bytes

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    meta = {'config': json.dumps(asdict(model.cfg)), **(extra_metadata or {})}
    return atomic_write_bytes(Path(path), save(state, metadata=meta))


@torch.no_grad()
def predict(model: FeedForwardVolSplat, rgb: np.ndarray, k: np.ndarray, poses: np.ndarray
            ) -> tuple[Gaussians, dict[str, Tensor]]:
    """Gaussians from posed uint8 views rgb (v, H, W, 3), K (3, 3) [px] of those views, poses (v, 4, 4) cam -> map,
    resized by the model's image_scale first (see forward for the extras)."""
    scale = model.cfg.image_scale
    return model(resize_views(rgb, scale), scale_intrinsics(k, scale), torch.as_tensor(poses, dtype=torch.float32))


DEFAULT_WEIGHTS = 'volsplat_feedforward_small/model.safetensors'


def default_weights_path() -> Path | None:
    """The shipped feed-forward weights: the repository's models/ or the installed share/groundfm/models/."""
    import sys

    here = Path(__file__).resolve()
    candidates = [here.parents[4] / 'models' / DEFAULT_WEIGHTS, here.parents[2] / 'models' / DEFAULT_WEIGHTS,
                  Path(sys.prefix) / 'share' / 'groundfm' / 'models' / DEFAULT_WEIGHTS]
    return next((p for p in candidates if p.is_file()), None)


def load_feedforward(path: str | Path) -> FeedForwardVolSplat:
    """A FeedForwardVolSplat from safetensors written by save_feedforward; every tensor's name and shape must match."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), 'pt') as f:
        meta = f.metadata() or {}
    if 'config' not in meta:
        raise ValueError(f'{path}: no config in the safetensors metadata; not a feed-forward VolSplat file')
    cfg = json.loads(meta['config'])
    cfg['unet_channels'] = tuple(cfg['unet_channels'])
    model = FeedForwardVolSplat(FeedForwardConfig(**cfg))
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()
