"""Train VolSplat at small scale on sim sequences: photometric loss on held-out views of each window.

    python -m groundfm_training.mapping.train --mode streaming --steps 300 --out models/volsplat_small
    python -m groundfm_training.mapping.train --mode feedforward --scale 0.25 --window 6 --target-every 3 \
        --ff-voxel-size 0.03 --pm-weight 0.005 --depth-weight 0.2 --time-budget-s 2280 --out runs/ff/base
    (the exact command of the shipped weights is in models/volsplat_feedforward_small/MODEL_CARD.md;
    groundfm_training.mapping.evaluate compares them with their initialisation and an oracle-depth map)

Each step takes a window of consecutive frames of a training house: every `--target-every`-th frame is a target,
the rest are context. mode 'streaming': the context (ground-truth depth) is fused into a VoxelMap and the
VolSplatRefiner (the node's network) predicts the residual on the surfel prior. mode 'feedforward': the full
FeedForwardVolSplat (cost-volume depth, lift, voxelise, sparse U-Net, head) from the context images alone.
Loss: MSE (+ --ssim-weight (1 - SSIM)) of renders of the targets; PM-Loss (--pm-weight, pointmap = context GT depth,
an oracle stand-in for VGGT) and an L1 on log depth (--depth-weight, feedforward only) optional.
Writes metrics_<mode>.jsonl (one line per logged step, val_* every --val-every steps), checkpoint_<mode>.pt (atomic,
resumable) and the final weights (safetensors with the config in its metadata; feedforward: model.safetensors) to
--out. The learning rate warms up over 50 steps, then follows a cosine to 10 % at --steps or at --time-budget-s.
"""

import argparse
import io
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the torch convention)
from safetensors.torch import save as save_safetensors
from tqdm import tqdm

from groundfm.io import atomic_write_bytes
from groundfm.mapping.config import MapConfig, VolSplatConfig
from groundfm.mapping.feedforward import (
    FeedForwardConfig,
    FeedForwardVolSplat,
    pm_loss,
    resize_depth,
    resize_views,
    save_feedforward,
    scale_intrinsics,
)
from groundfm.mapping.metrics import psnr, ssim
from groundfm.mapping.rasterizer import Camera, render
from groundfm.mapping.volsplat import VolSplatRefiner, decode, surfel_prior
from groundfm.mapping.voxel_map import VoxelMap, lift
from groundfm_training.mapping.data import TRAIN_SEEDS, VAL_SEEDS, Sequence, load_or_render


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mode', choices=('streaming', 'feedforward'), default='streaming')
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--train-houses', type=int, default=8, help='how many of TRAIN_SEEDS to use')
    p.add_argument('--frames', type=int, default=60, help='frames per house sequence')
    p.add_argument('--window', type=int, default=12, help='frames per training window')
    p.add_argument('--target-every', type=int, default=4)
    p.add_argument('--scale', type=float, default=0.5, help='image scale for the feed-forward input and renders')
    p.add_argument('--voxel-size', type=float, default=0.04)
    p.add_argument('--ssim-weight', type=float, default=0.2)
    p.add_argument('--pm-weight', type=float, default=0.0, help='PM-Loss weight (paper: 0.005)')
    p.add_argument('--depth-weight', type=float, default=0.1,
                   help='feedforward: L1 of log depth to the GT (no pretrained depth model)')
    p.add_argument('--zpressor', action='store_true', help='feedforward: ZPressor anchor compression')
    p.add_argument('--anchors', type=int, default=3)
    p.add_argument('--ff-voxel-size', type=float, default=0.05, help='feedforward: voxel size [m]')
    p.add_argument('--num-depths', type=int, default=32, help='feedforward: cost-volume depth candidates')
    p.add_argument('--init', default='', help='feedforward: start from these weights (new ZPressor modules keep init)')
    p.add_argument('--time-budget-s', type=float, default=0.0, help='stop (validate and save) after this long; 0 = off')
    p.add_argument('--cache', default='data/mapping_sim', help='rendered sequences (npz per house)')
    p.add_argument('--out', default='models/volsplat_small')
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--val-every', type=int, default=50)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


def _camera(seq: Sequence, i: int, scale: float) -> Camera:
    h, w = seq.depth.shape[1:]
    return Camera(scale_intrinsics(seq.k, scale), torch.tensor(np.linalg.inv(seq.poses[i]), dtype=torch.float32),
                  round(w * scale), round(h * scale))


def _target(seq: Sequence, i: int, scale: float) -> torch.Tensor:
    """View i at `scale` as (h, w, 3) in [0, 1]."""
    return resize_views(seq.rgb[i:i + 1], scale)[0].permute(1, 2, 0)


def pixel_pointmap(depth: torch.Tensor, k: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
    """Planar depth (r, h, w) [m] (NaN none), K (3, 3) at that size, poses (r, 4, 4) cam -> map: points (r, h, w, 3)."""
    r, h, w = depth.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing='ij')
    rays = torch.stack([(xs - k[0, 2]) / k[0, 0], (ys - k[1, 2]) / k[1, 1], torch.ones_like(xs)], -1)  # h w 3
    cam = depth[..., None] * rays[None]
    return torch.einsum('rij,rhwj->rhwi', poses[:, :3, :3], cam) + poses[:, None, None, :3, 3]


def _window(rng: np.random.Generator, seq: Sequence, args) -> tuple[list[int], list[int]]:
    start = int(rng.integers(0, len(seq.rgb) - args.window + 1))
    idx = list(range(start, start + args.window))
    targets = [i for j, i in enumerate(idx) if j % args.target_every == args.target_every // 2]
    return [i for i in idx if i not in targets], targets


def streaming_gaussians(model: VolSplatRefiner, seq: Sequence, context: list[int], voxel_size: float):
    """Fuse the context frames into a VoxelMap and run the refiner (with autograd) on every voxel."""
    vmap = VoxelMap(MapConfig(voxel_size=voxel_size))
    for i in context:
        vmap.integrate(seq.rgb[i], seq.depth[i], seq.k, seq.poses[i])
    slots = vmap.slots()
    loc = np.full(len(vmap.key), -1, np.int64)
    loc[slots] = np.arange(len(slots))
    nb = vmap.nbr[slots]
    kmap = torch.from_numpy(np.where(nb >= 0, loc[nb], -1))
    feats = torch.from_numpy(vmap.features(slots))
    raw = surfel_prior(feats, voxel_size, model.cfg) + model(feats, kmap)
    centroids = torch.from_numpy(vmap.centroids(slots).astype(np.float32))
    return decode(raw, centroids, voxel_size), {}


def feedforward_gaussians(model: FeedForwardVolSplat, seq: Sequence, context: list[int], scale: float):
    """The feed-forward model on the context images (at `scale`)."""
    poses = torch.tensor(seq.poses[context], dtype=torch.float32)
    return model(resize_views(seq.rgb[context], scale), scale_intrinsics(seq.k, scale), poses)


def depth_errors(pred: torch.Tensor, gt: torch.Tensor) -> dict[str, float]:
    """L1 [m], AbsRel and delta<1.25 of predicted depth against GT over GT-valid pixels (same shape)."""
    ok = torch.isfinite(gt) & (gt > 0)
    p, g = pred.detach()[ok], gt[ok]
    ratio = torch.maximum(p / g, g / p)
    return {'depth_l1': float((p - g).abs().mean()), 'depth_absrel': float(((p - g).abs() / g).mean()),
            'depth_d1': float((ratio < 1.25).float().mean())}


def step_loss(model, mode: str, seq: Sequence, context: list[int], targets: list[int], args) -> tuple[torch.Tensor,
                                                                                                        dict]:
    """Loss of one window and its metrics."""
    if mode == 'streaming':
        g, extra = streaming_gaussians(model, seq, context, args.voxel_size)
    else:
        g, extra = feedforward_gaussians(model, seq, context, args.scale)
    loss, logs, ps = 0.0, {}, []
    for t in targets:
        rgb = render(g, _camera(seq, t, args.scale))[0]
        target = _target(seq, t, args.scale)
        mse = F.mse_loss(rgb, target)
        loss = loss + mse
        if args.ssim_weight > 0:
            loss = loss + args.ssim_weight * (1 - ssim(rgb, target))
        ps.append(psnr(rgb.detach(), target))
    loss = loss / len(targets)
    if mode == 'feedforward':
        views = [context[v] for v in extra['views'].tolist()]
        gt = resize_depth(seq.depth[views], args.scale)  # r h w, NaN where no return
        logs.update(depth_errors(extra['depth'], gt))
        ok = torch.isfinite(gt)
        if args.depth_weight > 0:
            d_log = (extra['depth'][ok].log() - gt[ok].clamp(min=1e-3).log()).abs().mean()  # near and far alike
            loss = loss + args.depth_weight * d_log
        if args.pm_weight > 0:  # pointmap = the views' GT depth lifted per pixel, matched by pixel to the prediction
            pointmap = pixel_pointmap(gt, scale_intrinsics(seq.k, args.scale),
                                      torch.tensor(seq.poses[views], dtype=torch.float32))
            pm = pm_loss(g.means, pointmap[ok], pred_points=extra['points'][ok])
            loss = loss + args.pm_weight * pm
            logs['pm_loss'] = float(pm.detach())
    elif args.pm_weight > 0:  # streaming: the map is built from this very depth, so the alignment is the identity
        gt_pts = torch.from_numpy(np.concatenate([lift(seq.depth[i], seq.k, seq.poses[i], 4, 0.1, 6.0)[0]
                                                  for i in context])).float()
        pm = pm_loss(g.means, gt_pts, pred_points=gt_pts)
        loss = loss + args.pm_weight * pm
        logs['pm_loss'] = float(pm.detach())
    logs.update(loss=float(loss.detach()), psnr=float(np.mean(ps)), gaussians=len(g))
    return loss, logs


def _save(model, cfg_dict: dict, path: Path) -> Path:
    if isinstance(model, FeedForwardVolSplat):
        return save_feedforward(model, path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    data = save_safetensors(state, metadata={'config': json.dumps(cfg_dict)})
    return atomic_write_bytes(path, data)


def main(argv: list[str] | None = None) -> int:
    """Train and write metrics, checkpoints and weights to --out."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seqs = [load_or_render(Path(args.cache), s, args.frames) for s in tqdm(TRAIN_SEEDS[:args.train_houses],
                                                                               desc='houses')]
    vals = [load_or_render(Path(args.cache), s, args.frames) for s in VAL_SEEDS]
    if args.mode == 'streaming':
        cfg = VolSplatConfig()
        model = VolSplatRefiner(cfg)
        cfg_dict, weights = asdict(cfg), out / 'refiner.safetensors'
    else:
        cfg = FeedForwardConfig(voxel_size=args.ff_voxel_size, num_depths=args.num_depths,
                                use_zpressor=args.zpressor, num_anchors=args.anchors, image_scale=args.scale)
        model = FeedForwardVolSplat(cfg)
        cfg_dict, weights = asdict(cfg), out / 'model.safetensors'
        if args.init:  # warm start (e.g. ZPressor fine-tuning from a trained model): new modules keep their init
            from safetensors.torch import load_file

            missing, unexpected = model.load_state_dict(load_file(args.init), strict=False)
            if unexpected or any(not k.startswith('zpressor.') for k in missing):
                raise SystemExit(f'--init {args.init}: unexpected {unexpected}, missing {missing}')
            print(f'initialised from {args.init}; new: {len(missing)} tensors')
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def lr_factor(step: int, elapsed_s: float) -> float:
        """Linear warm-up over 50 steps, then cosine down to 10 % at --steps or at --time-budget-s, whichever first."""
        progress = step / args.steps
        if args.time_budget_s > 0:
            progress = max(progress, elapsed_s / args.time_budget_s)
        return min(1.0, (step + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0))))

    ckpt = out / f'checkpoint_{args.mode}.pt'
    start, elapsed0 = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        start, elapsed0 = state['step'], state.get('elapsed_s', 0.0)
    metrics = (out / f'metrics_{args.mode}.jsonl').open('a')
    t0 = time.time() - elapsed0
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc=args.mode)
    for step in bar:
        model.train()
        seq = seqs[int(rng.integers(len(seqs)))]
        context, targets = _window(rng, seq, args)
        loss, logs = step_loss(model, args.mode, seq, context, targets, args)
        lr = args.lr * lr_factor(step, time.time() - t0)
        for group in opt.param_groups:
            group['lr'] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f'{logs["loss"]:.4f}', psnr=f'{logs["psnr"]:.2f}')
        row = {'step': step + 1, 'time_s': round(time.time() - t0, 1), 'lr': lr, **logs}
        over_budget = args.time_budget_s > 0 and time.time() - t0 > args.time_budget_s
        if (step + 1) % args.val_every == 0 or step + 1 == args.steps or over_budget:
            model.eval()
            vrng = np.random.default_rng(1234)
            with torch.no_grad():
                vl = [step_loss(model, args.mode, v, *_window(vrng, v, args), args)[1] for v in vals for _ in range(2)]
            row.update({f'val_{k}': float(np.mean([x[k] for x in vl])) for k in vl[0] if k != 'gaussians'})
            buf = io.BytesIO()
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step + 1,
                        'elapsed_s': time.time() - t0}, buf)
            atomic_write_bytes(ckpt, buf.getvalue())
            _save(model, cfg_dict, weights)
        if (step + 1) % args.log_every == 0 or 'val_psnr' in row:
            metrics.write(json.dumps(row) + '\n')
            metrics.flush()
        if not math.isfinite(logs['loss']):
            print('loss is not finite: stopping')
            return 1
        if over_budget:
            print(f'time budget of {args.time_budget_s:.0f} s reached at step {step + 1}')
            break
    _save(model, cfg_dict, weights)
    print(f'wrote {weights} after {time.time() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
