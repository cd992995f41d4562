"""Train VolSplat at small scale on sim sequences: photometric loss on held-out views of each window.

    python -m groundfm_training.mapping.train --mode streaming --steps 300 --out models/volsplat_small
    python -m groundfm_training.mapping.train --mode feedforward --steps 200 --pm-weight 0.005 --zpressor

Each step takes a window of consecutive frames of a training house: every `--target-every`-th frame is a target,
the rest are context. mode 'streaming': the context (ground-truth depth) is fused into a VoxelMap and the
VolSplatRefiner (the node's network) predicts the residual on the surfel prior. mode 'feedforward': the full
FeedForwardVolSplat (cost-volume depth, lift, voxelise, sparse U-Net, head) from the context images alone.
Loss: MSE (+ --ssim-weight (1 - SSIM)) of renders of the targets; PM-Loss (--pm-weight, pointmap = context GT depth,
an oracle stand-in for VGGT) and a depth L1 (--depth-weight, feedforward only) optional.
Writes metrics.jsonl (one line per logged step), checkpoint.pt (atomic, resumable) and the final weights
(safetensors with the config in its metadata) to --out.
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
from groundfm.mapping.feedforward import FeedForwardConfig, FeedForwardVolSplat, pm_loss
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
    p.add_argument('--depth-weight', type=float, default=0.1, help='feedforward: L1 to GT depth (no pretrained depth)')
    p.add_argument('--zpressor', action='store_true', help='feedforward: ZPressor anchor compression')
    p.add_argument('--anchors', type=int, default=3)
    p.add_argument('--cache', default='data/mapping_sim', help='rendered sequences (npz per house)')
    p.add_argument('--out', default='models/volsplat_small')
    p.add_argument('--log-every', type=int, default=10)
    p.add_argument('--val-every', type=int, default=50)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


def _camera(seq: Sequence, i: int, scale: float) -> Camera:
    h, w = seq.depth.shape[1:]
    k = torch.tensor(seq.k, dtype=torch.float32).clone()
    k[:2] *= scale
    k[0, 2] = (seq.k[0, 2] + 0.5) * scale - 0.5
    k[1, 2] = (seq.k[1, 2] + 0.5) * scale - 0.5
    return Camera(k, torch.tensor(np.linalg.inv(seq.poses[i]), dtype=torch.float32), int(w * scale), int(h * scale))


def _target(seq: Sequence, i: int, scale: float) -> torch.Tensor:
    img = torch.from_numpy(seq.rgb[i]).float().permute(2, 0, 1)[None] / 255.0
    if scale != 1.0:
        img = F.interpolate(img, scale_factor=scale, mode='area')
    return img[0].permute(1, 2, 0)


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
    imgs = torch.stack([_target(seq, i, scale).permute(2, 0, 1) for i in context])
    cam = _camera(seq, context[0], scale)
    poses = torch.tensor(seq.poses[context], dtype=torch.float32)
    return model(imgs, cam.k, poses)


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
    if args.pm_weight > 0 or (mode == 'feedforward' and args.depth_weight > 0):
        gt_pts = np.concatenate([lift(seq.depth[i], seq.k, seq.poses[i], 4, 0.1, 6.0)[0] for i in context])
        if args.pm_weight > 0:
            pm = pm_loss(g.means, torch.from_numpy(gt_pts).float())
            loss = loss + args.pm_weight * pm
            logs['pm_loss'] = float(pm.detach())
        if mode == 'feedforward' and args.depth_weight > 0:
            views = extra['views'].tolist()
            gt = torch.stack([F.interpolate(torch.from_numpy(seq.depth[context[v]])[None, None],
                                            scale_factor=args.scale, mode='nearest')[0, 0] for v in views])
            ok = torch.isfinite(gt)
            d_l1 = (extra['depth'][ok] - gt[ok]).abs().mean()
            loss = loss + args.depth_weight * d_l1
            logs['depth_l1'] = float(d_l1.detach())
    logs.update(loss=float(loss.detach()), psnr=float(np.mean(ps)), gaussians=len(g))
    return loss, logs


def _save(model, cfg_dict: dict, path: Path) -> Path:
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
        cfg = FeedForwardConfig(voxel_size=max(args.voxel_size, 0.05), use_zpressor=args.zpressor,
                                num_anchors=args.anchors)
        model = FeedForwardVolSplat(cfg)
        cfg_dict, weights = asdict(cfg), out / 'feedforward.safetensors'
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    ckpt = out / f'checkpoint_{args.mode}.pt'
    start = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        start = state['step']
    metrics = (out / f'metrics_{args.mode}.jsonl').open('a')
    t0 = time.time()
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc=args.mode)
    for step in bar:
        model.train()
        seq = seqs[int(rng.integers(len(seqs)))]
        context, targets = _window(rng, seq, args)
        loss, logs = step_loss(model, args.mode, seq, context, targets, args)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f'{logs["loss"]:.4f}', psnr=f'{logs["psnr"]:.2f}')
        row = {'step': step + 1, 'time_s': round(time.time() - t0, 1), **logs}
        if (step + 1) % args.val_every == 0 or step + 1 == args.steps:
            model.eval()
            vrng = np.random.default_rng(1234)
            with torch.no_grad():
                vp = [step_loss(model, args.mode, v, *_window(vrng, v, args), args)[1]['psnr'] for v in vals
                      for _ in range(2)]
            row['val_psnr'] = float(np.mean(vp))
            buf = io.BytesIO()
            torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step + 1}, buf)
            atomic_write_bytes(ckpt, buf.getvalue())
            _save(model, cfg_dict, weights)
        if (step + 1) % args.log_every == 0 or 'val_psnr' in row:
            metrics.write(json.dumps(row) + '\n')
            metrics.flush()
        if not math.isfinite(logs['loss']):
            print('loss is not finite: stopping')
            return 1
    _save(model, cfg_dict, weights)
    print(f'wrote {weights} after {time.time() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
