"""Evaluate feed-forward VolSplat weights on held-out sim houses against baselines, in one run.

    python -m groundfm_training.mapping.evaluate --weights models/volsplat_feedforward_small/model.safetensors \
        --seeds 2 3 4 5 6 7 --json runs/ff/eval.json

Each held-out house (seeds outside TRAIN_SEEDS and VAL_SEEDS) gives --windows fixed windows of consecutive frames;
as in training, every --target-every-th frame of a window is a target and the rest are the context. Methods:
  ff_trained         the weights under test on the context images (at the model's image_scale);
  ff_untrained       the same configuration at its seed-0 initialisation (what training started from);
  streaming_gt_depth the streaming VoxelMap + untrained head (surfel prior) fusing the same context views at the same
                     resolution and voxel size, with the sim's ground-truth depth (an oracle-depth reference);
  ff_zpressor        (--zpressor-weights) a ZPressor model on --many-window views, next to ff_trained on all of them.
Metrics: PSNR/SSIM of renders at the targets (model resolution), depth L1 [m] / AbsRel / delta<1.25 of the
cost-volume depth on the lifted context views, Gaussians, and process CPU ms per window (1 torch thread; robust to
other load).
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from groundfm.io import atomic_write_json
from groundfm.mapping.config import MapConfig
from groundfm.mapping.feedforward import (
    FeedForwardVolSplat,
    load_feedforward,
    predict,
    resize_depth,
    resize_views,
    scale_intrinsics,
)
from groundfm.mapping.metrics import psnr, ssim
from groundfm.mapping.rasterizer import Camera, render
from groundfm.mapping.volsplat import GaussianMap, Gaussians
from groundfm.mapping.voxel_map import VoxelMap
from groundfm_training.mapping.data import TRAIN_SEEDS, VAL_SEEDS, Sequence, load_or_render
from groundfm_training.mapping.train import depth_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--weights', required=True)
    p.add_argument('--zpressor-weights', default='', help='also evaluate a ZPressor model on many views')
    p.add_argument('--seeds', type=int, nargs='+', default=[2, 3, 4, 5, 6, 7])
    p.add_argument('--frames', type=int, default=60)
    p.add_argument('--windows', type=int, default=6, help='windows per house')
    p.add_argument('--window', type=int, default=6)
    p.add_argument('--target-every', type=int, default=3)
    p.add_argument('--many-window', type=int, default=15, help='frames of a ZPressor window')
    p.add_argument('--many-target-every', type=int, default=5)
    p.add_argument('--cache', default='runs/mapping_sim')
    p.add_argument('--json', default='', help='write the results here')
    return p.parse_args(argv)


def windows(n_frames: int, window: int, target_every: int, count: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """`count` fixed (context, targets) windows of a sequence, seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for start in sorted(rng.choice(n_frames - window + 1, size=count, replace=False).tolist()):
        idx = list(range(start, start + window))
        targets = [i for j, i in enumerate(idx) if j % target_every == target_every // 2]
        out.append(([i for i in idx if i not in targets], targets))
    return out


def render_scores(g: Gaussians, seq: Sequence, targets: list[int], scale: float) -> tuple[list[float], list[float]]:
    """PSNR and SSIM of g rendered at each target pose, at `scale` of the sequence's resolution."""
    h, w = seq.depth.shape[1:]
    k = scale_intrinsics(seq.k, scale)
    p, s = [], []
    for t in targets:
        cam = Camera(k, torch.tensor(np.linalg.inv(seq.poses[t]), dtype=torch.float32), round(w * scale),
                     round(h * scale))
        with torch.no_grad():
            rgb = render(g, cam)[0]
        target = resize_views(seq.rgb[t:t + 1], scale)[0].permute(1, 2, 0)
        p.append(psnr(rgb, target))
        s.append(float(ssim(rgb.clamp(0, 1), target)))
    return p, s


def eval_ff(model: FeedForwardVolSplat, seq: Sequence, context: list[int], targets: list[int]) -> dict[str, float]:
    """One window through a feed-forward model."""
    start = time.process_time()
    g, extra = predict(model, seq.rgb[context], seq.k, seq.poses[context])
    ms = (time.process_time() - start) * 1e3
    p, s = render_scores(g, seq, targets, model.cfg.image_scale)
    views = [context[v] for v in extra['views'].tolist()]
    d = depth_errors(extra['depth'], resize_depth(seq.depth[views], model.cfg.image_scale))
    return {'psnr': statistics.fmean(p), 'ssim': statistics.fmean(s), **d, 'gaussians': float(len(g)), 'cpu_ms': ms}


def eval_streaming(seq: Sequence, context: list[int], targets: list[int], scale: float,
                   voxel_size: float) -> dict[str, float]:
    """The same context views fused with ground-truth depth into the streaming map (surfel prior head)."""
    start = time.process_time()
    vmap = VoxelMap(MapConfig(voxel_size=voxel_size, min_depth=0.05))
    gmap = GaussianMap(vmap)
    rgb = (resize_views(seq.rgb[context], scale).permute(0, 2, 3, 1) * 255.0).round().byte().numpy()
    depth = resize_depth(seq.depth[context], scale).numpy()
    k = scale_intrinsics(seq.k, scale).double().numpy()
    for j, i in enumerate(context):
        vmap.integrate(rgb[j], depth[j], k, seq.poses[i])
        gmap.update()
    g = gmap.gaussians()
    ms = (time.process_time() - start) * 1e3
    p, s = render_scores(g, seq, targets, scale)
    return {'psnr': statistics.fmean(p), 'ssim': statistics.fmean(s), 'gaussians': float(len(g)), 'cpu_ms': ms}


def main(argv: list[str] | None = None) -> int:
    """Evaluate and print one line per method; write the JSON when asked."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    held = set(TRAIN_SEEDS) | set(VAL_SEEDS)
    if any(s in held for s in args.seeds):
        raise SystemExit(f'--seeds must be held out: {sorted(held & set(args.seeds))} are training/validation houses')
    trained = load_feedforward(args.weights)
    torch.manual_seed(0)
    untrained = FeedForwardVolSplat(trained.cfg).eval()
    zp = load_feedforward(args.zpressor_weights) if args.zpressor_weights else None
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in tqdm(args.seeds, desc='houses'):
        seq = load_or_render(Path(args.cache), seed, args.frames)
        for context, targets in windows(args.frames, args.window, args.target_every, args.windows, seed):
            rows.setdefault('ff_trained', []).append(eval_ff(trained, seq, context, targets))
            rows.setdefault('ff_untrained', []).append(eval_ff(untrained, seq, context, targets))
            rows.setdefault('streaming_gt_depth', []).append(
                eval_streaming(seq, context, targets, trained.cfg.image_scale, trained.cfg.voxel_size))
        if zp is not None:
            for context, targets in windows(args.frames, args.many_window, args.many_target_every,
                                            max(1, args.windows // 2), seed + 1):
                rows.setdefault('ff_trained_many_views', []).append(eval_ff(trained, seq, context, targets))
                rows.setdefault('ff_zpressor_many_views', []).append(eval_ff(zp, seq, context, targets))
    results = {m: {k: statistics.fmean(r[k] for r in rs) for k in rs[0]} for m, rs in rows.items()}
    for m, r in results.items():
        print(f'{m:24s} ' + '  '.join(f'{k} {v:.4g}' for k, v in r.items()))
    if args.json:
        atomic_write_json(args.json, {'results': results, 'windows_per_method': {m: len(r) for m, r in rows.items()},
                                      'args': vars(args)})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
