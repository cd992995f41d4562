"""Mapping: the streaming VolSplat map on held-out sim trajectories, with Open3D's tensor TSDF side by side.

Per house seed (held out: training uses seeds >= 100), a random walk of --frames posed RGB-D frames (sim ground-truth
depth, 320x240); every --holdout-every-th frame is held out and the rest are keyframes of the map.
  psnr, ssim: renders of the map at the held-out poses against the sim's RGB (--render-views of them).
  accuracy_cm / completeness_cm: mean distance map -> ground-truth surface / surface -> map. The surface is every
    frame's ground-truth depth (keyframes and held-out) lifted and thinned to 1 cm.
  ms_per_keyframe (wall) / cpu_ms_per_keyframe (process CPU time, robust to other load): integrate + Gaussian update
    per keyframe, one torch thread; ms_growth_ratio: CPU time of the last third of keyframes over the first third;
    big_map_cpu_ms_ratio: CPU time per keyframe with --big-map-passes copies of the map prefilled 500 m away
    (big_map_voxels) over the empty-map run (1.0 = cost independent of map size); peak_mb: process peak RSS;
    map_mb: the map's own arrays; voxels: map size at the end.
  open3d_tsdf (when open3d imports): VoxelBlockGrid TSDF at --tsdf-voxel on the same keyframes; time per keyframe,
    accuracy/completeness of its extracted point cloud; time_ratio = its ms / ours.
  volsplat_ff (when feed-forward weights are found; --ff-weights): the feed-forward VolSplat model, RGB only (its own
    plane-sweep depth, no ground-truth depth), on the 4 keyframes around each rendered held-out view (2 before, 2
    after), at the model's training resolution. psnr/ssim: its render at the full --width x --height against the
    sim's RGB (as for groundfm); psnr_model_res: at the model's input resolution; accuracy_cm: its Gaussian centres
    (all windows) to the ground-truth surface; depth_l1_m: its cost-volume depth against the sim's; ms_per_window /
    cpu_ms_per_window: one forward pass. Not comparable input-for-input with groundfm, which fuses every keyframe's
    ground-truth depth.
"""

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from groundfm.bench.results import THIS_PROJECT, Results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark-specific options."""
    parser.add_argument('--frames', type=int, default=90, help='frames per trajectory')
    parser.add_argument('--holdout-every', type=int, default=5, help='every n-th frame is a held-out view')
    parser.add_argument('--render-views', type=int, default=6, help='held-out views rendered for PSNR/SSIM')
    parser.add_argument('--voxel-size', type=float, default=0.04, help='map voxel size [m]')
    parser.add_argument('--weights', default='', help="refiner weights (safetensors); '' = untrained surfel prior")
    parser.add_argument('--tsdf-voxel', type=float, default=0.02, help='Open3D TSDF voxel size [m]')
    parser.add_argument('--big-map-passes', type=int, default=4,
                        help='flatness check: rerun with this many copies of the map prefilled far away (0 = skip)')
    parser.add_argument('--ff-weights', default='',
                        help="feed-forward VolSplat safetensors ('' = the shipped models/volsplat_feedforward_small; "
                             "'none' = skip)")
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)


def _render_metrics(gmap, frames, k) -> tuple[float, float]:
    from groundfm.mapping.metrics import psnr, ssim
    from groundfm.mapping.rasterizer import Camera, render

    g = gmap.gaussians()
    p, s = [], []
    for f in frames:
        h, w = f.depth.shape
        cam = Camera(torch.tensor(k, dtype=torch.float32), torch.tensor(np.linalg.inv(f.t_map_cam),
                                                                          dtype=torch.float32), w, h)
        with torch.no_grad():
            rgb = render(g, cam)[0]
        target = torch.from_numpy(f.rgb).float() / 255.0
        p.append(psnr(rgb, target))
        s.append(float(ssim(rgb.clamp(0, 1), target)))
    return statistics.fmean(p), statistics.fmean(s)


def _gt_surface(frames) -> np.ndarray:
    from groundfm.mapping.metrics import voxel_downsample
    from groundfm.mapping.voxel_map import lift

    pts = [lift(f.depth, f.k, f.t_map_cam, 1, 0.1, 6.0)[0] for f in frames]
    return voxel_downsample(np.concatenate(pts).astype(np.float64), 0.01)


def run_streaming(keyframes, heldout, args) -> dict[str, float]:
    """Our map on the keyframes: speed, memory, render and geometry metrics."""
    from groundfm.mapping.config import MapConfig
    from groundfm.mapping.node import load_refiner
    from groundfm.mapping.volsplat import GaussianMap
    from groundfm.mapping.voxel_map import VoxelMap

    torch.set_num_threads(1)
    model = load_refiner(args.weights)

    def build(prefill: int) -> tuple[GaussianMap, list[float], list[float]]:
        vmap = VoxelMap(MapConfig(voxel_size=args.voxel_size, voxel_budget=2_000_000))
        gmap = GaussianMap(vmap, model)
        for j in range(prefill):  # the same keyframes 500 m away per pass: a big map elsewhere
            shift = np.eye(4)
            shift[0, 3] = 500.0 * (j + 1)
            for f in keyframes[::2]:
                vmap.integrate(f.rgb, f.depth, f.k, shift @ f.t_map_cam)
                gmap.update()
        wall, cpu = [], []
        for f in keyframes:
            w0, c0 = time.perf_counter(), time.process_time()
            vmap.integrate(f.rgb, f.depth, f.k, f.t_map_cam, f.labels)
            gmap.update()
            wall.append((time.perf_counter() - w0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        return gmap, wall, cpu

    gmap, times, cpu = build(0)
    vmap = gmap.vmap
    third = max(1, len(times) // 3)
    views = heldout[:: max(1, len(heldout) // args.render_views)][: args.render_views]
    p, s = _render_metrics(gmap, views, keyframes[0].k)
    out = {'ms_per_keyframe': statistics.fmean(times[1:]), 'cpu_ms_per_keyframe': statistics.fmean(cpu[1:]),
           'ms_growth_ratio': statistics.fmean(cpu[-third:]) / statistics.fmean(cpu[1:third + 1]),
           'psnr': p, 'ssim': s, 'voxels': float(vmap.size),
           'map_mb': (vmap.nbytes() + gmap.raw.nbytes) / 2 ** 20, '_points': gmap.gaussians().means.numpy()}
    if args.big_map_passes:
        big, _, big_cpu = build(args.big_map_passes)
        out['big_map_voxels'] = float(big.vmap.size)
        out['big_map_cpu_ms_ratio'] = statistics.fmean(big_cpu[1:]) / out['cpu_ms_per_keyframe']
    return out


def run_feedforward(frames, held_idx: list[int], views: list[int], args) -> dict[str, float] | None:
    """The feed-forward model on the 4 keyframes (frames not in held_idx) nearest each frame index of `views`;
    None when no weights are found."""
    from groundfm.mapping.feedforward import (
        default_weights_path,
        load_feedforward,
        predict,
        resize_depth,
        resize_views,
        scale_intrinsics,
    )
    from groundfm.mapping.metrics import psnr, ssim
    from groundfm.mapping.rasterizer import Camera, render

    if args.ff_weights == 'none':
        return None
    path = args.ff_weights or default_weights_path()
    if not path:
        return None
    torch.set_num_threads(1)
    model = load_feedforward(path)
    scale = model.cfg.image_scale
    keys = [i for i in range(len(frames)) if i not in set(held_idx)]
    rows, points = [], []
    for i in views:
        context = sorted(sorted(keys, key=lambda j: (abs(j - i), j))[:4])
        rgb = np.stack([frames[j].rgb for j in context])
        poses = np.stack([frames[j].t_map_cam for j in context])
        w0, c0 = time.perf_counter(), time.process_time()
        g, extra = predict(model, rgb, frames[i].k, poses)
        ms, cpu = (time.perf_counter() - w0) * 1e3, (time.process_time() - c0) * 1e3
        f = frames[i]
        h, w = f.depth.shape
        target = torch.from_numpy(f.rgb).float() / 255.0
        t_cw = torch.tensor(np.linalg.inv(f.t_map_cam), dtype=torch.float32)
        lo_h, lo_w = extra['depth'].shape[1:]
        with torch.no_grad():
            full = render(g, Camera(torch.tensor(f.k, dtype=torch.float32), t_cw, w, h))[0]
            low = render(g, Camera(scale_intrinsics(f.k, scale), t_cw, lo_w, lo_h))[0]
        gt_depth = resize_depth(np.stack([frames[j].depth for j in context]), scale)
        ok = torch.isfinite(gt_depth)
        rows.append({'psnr': psnr(full, target), 'ssim': float(ssim(full.clamp(0, 1), target)),
                     'psnr_model_res': psnr(low, resize_views(f.rgb[None], scale)[0].permute(1, 2, 0)),
                     'depth_l1_m': float((extra['depth'][ok] - gt_depth[ok]).abs().mean()),
                     'ms_per_window': ms, 'cpu_ms_per_window': cpu, 'gaussians': float(len(g))})
        points.append(g.means.numpy())
    out = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
    out['_points'] = np.concatenate(points).astype(np.float64)
    return out


def run_open3d(keyframes, args) -> dict[str, float] | None:
    """Open3D tensor TSDF (VoxelBlockGrid) on the same keyframes; None when open3d does not import."""
    try:
        import open3d as o3d
    except ImportError:
        return None
    dev = o3d.core.Device('CPU:0')
    vbg = o3d.t.geometry.VoxelBlockGrid(('tsdf', 'weight', 'color'),
                                        (o3d.core.float32, o3d.core.float32, o3d.core.float32), ((1), (1), (3)),
                                        args.tsdf_voxel, 16, 50000, dev)
    intr = o3d.core.Tensor(keyframes[0].k, o3d.core.float64)
    times = []
    for f in keyframes:
        start = time.perf_counter()
        depth = np.nan_to_num(f.depth, nan=0.0).astype(np.float32)
        dimg = o3d.t.geometry.Image(o3d.core.Tensor(depth)).to(dev)
        cimg = o3d.t.geometry.Image(o3d.core.Tensor(f.rgb.astype(np.float32) / 255.0)).to(dev)
        extr = o3d.core.Tensor(np.linalg.inv(f.t_map_cam), o3d.core.float64)
        blocks = vbg.compute_unique_block_coordinates(dimg, intr, extr, 1.0, 6.0)
        vbg.integrate(blocks, dimg, cimg, intr, extr, 1.0, 6.0)
        times.append((time.perf_counter() - start) * 1e3)
    pts = vbg.extract_point_cloud(weight_threshold=1.0).point.positions.numpy().astype(np.float64)  # every seen surface
    return {'ms_per_keyframe': statistics.fmean(times[1:]), '_points': pts}


def run(args: argparse.Namespace) -> Results:
    """Each seed's trajectory through our map and the TSDF baseline; metrics averaged over seeds."""
    from groundfm.mapping.metrics import accuracy_completeness
    from groundfm.mapping.sequence import render_sequence

    ours: list[dict[str, float]] = []
    tsdf: list[dict[str, float]] = []
    ffs: list[dict[str, float]] = []
    for seed in args.seeds:
        frames = render_sequence(seed, args.frames, walk_seed=1000 + seed, width=args.width, height=args.height)
        held = [f for i, f in enumerate(frames) if i % args.holdout_every == args.holdout_every - 1]
        held_idx = [i for i in range(len(frames)) if i % args.holdout_every == args.holdout_every - 1]
        keys = [f for i, f in enumerate(frames) if i % args.holdout_every != args.holdout_every - 1]
        gt = _gt_surface(frames)
        m = run_streaming(keys, held, args)
        acc, comp = accuracy_completeness(m.pop('_points'), gt)
        m.update(accuracy_cm=100 * acc, completeness_cm=100 * comp,
                 peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        ours.append(m)
        line = (f'seed {seed}: {len(keys)} keyframes, {m["ms_per_keyframe"]:.0f} ms/keyframe wall, '
                f'{m["cpu_ms_per_keyframe"]:.0f} ms CPU (growth x{m["ms_growth_ratio"]:.2f}, '
                f'x{m.get("big_map_cpu_ms_ratio", float("nan")):.2f} with {m.get("big_map_voxels", 0):.0f} voxels), '
                f'PSNR {m["psnr"]:.2f} dB, SSIM {m["ssim"]:.3f}, '
                f'acc {100 * acc:.2f} cm, comp {100 * comp:.2f} cm, {m["voxels"]:.0f} voxels')
        o = run_open3d(keys, args)
        if o is not None:
            acc, comp = accuracy_completeness(o.pop('_points'), gt)
            o.update(accuracy_cm=100 * acc, completeness_cm=100 * comp,
                     time_ratio=o['ms_per_keyframe'] / m['ms_per_keyframe'])
            tsdf.append(o)
            line += f'; open3d_tsdf {o["ms_per_keyframe"]:.0f} ms/keyframe, acc {100 * acc:.2f} cm'
        else:
            line += '; open3d_tsdf skipped (pip install open3d-cpu==0.20.0; apt libusb-1.0-0)'
        views = held_idx[:: max(1, len(held_idx) // args.render_views)][: args.render_views]  # as run_streaming's
        ff = run_feedforward(frames, held_idx, views, args)
        if ff is not None:
            acc, _ = accuracy_completeness(ff.pop('_points'), gt)
            ff['accuracy_cm'] = 100 * acc
            ffs.append(ff)
            line += (f'; volsplat_ff (RGB only, 4 views) PSNR {ff["psnr"]:.2f} dB full res / '
                     f'{ff["psnr_model_res"]:.2f} dB model res, depth L1 {ff["depth_l1_m"]:.3f} m, '
                     f'{ff["ms_per_window"]:.0f} ms/window')
        print(line, flush=True)

    def mean(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}

    out: Results = {'sim_heldout': {THIS_PROJECT: mean(ours)}}
    if tsdf:
        out['sim_heldout']['open3d_tsdf'] = mean(tsdf)
    if ffs:
        out['sim_heldout']['volsplat_ff'] = mean(ffs)
    return out
