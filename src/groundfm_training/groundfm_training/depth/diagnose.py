"""Where a StereoAdapter checkpoint's error on a pair comes from: the mono start, the matching features, the GRU.

  python -m groundfm_training.depth.diagnose models/stereo_adapter_small/model.safetensors --pair motorcycle_370x250

On one pair with ground truth it reports, all as bad-2 (holes are errors) unless named otherwise:
  per_iteration: the upsampled estimate after each refinement step (index 0 is the mono estimate);
  start: where refinement started (the mono estimate, or the best match with refine_from='matching');
  correlation_wta: winner-take-all over the level-0 correlation volume on the 1/4 grid (bad-4 = off by more than one
    feature pixel): how well the matching features alone find the match;
  by_disparity: bad-2 and mean signed error per GT-disparity quintile (a bias that changes sign with disparity
    means estimates are pulled towards the middle of the range);
  by_texture: bad-2 per quartile of local horizontal gradient (matching needs texture);
  left_band: bad-2 in the left 10 % of the image, where many pixels have no match in the right view.
The pairs are the benchmark's Motorcycle pair (reporting only, never for tuning) and held-out sim house 7000's first
validation view (quick_eval's sim_val set).
"""

import argparse
import json
from pathlib import Path

import numpy as np

PAIRS = ('motorcycle_370x250', 'motorcycle_741x500', 'sim_val')
MAX_DISPARITY = 192  # [px] as the benchmark's estimator: larger or non-positive estimates are holes


def load_pair(name: str, sim_cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """left, right (h, w, 3) uint8 and GT disparity (h, w) float32 [px, NaN unknown] of a named pair."""
    if name == 'sim_val':
        from groundfm_training.depth.quick_eval import sim_val

        left, right, gt = sim_val(sim_cache)[0]
        return left, right, np.where(gt < MAX_DISPARITY, gt, np.nan).astype(np.float32)  # as quick_eval scores it
    if name not in PAIRS:
        raise ValueError(f'unknown pair {name!r}; choose one of {PAIRS}')
    from groundfm.bench.depth import motorcycle

    left, right, gt, _ = motorcycle('half' if name == 'motorcycle_370x250' else 'full')
    return left, right, gt


def correlation_wta(volume: np.ndarray, height: int, width: int, downsample: int = 4) -> np.ndarray:
    """volume (h4, w4 left, w4 right) -> (height, width) disparity [input px] of the best-correlated right pixel.

    Only right pixels at or left of the left pixel (disparity >= 0) compete; the result is on the 1/4 grid,
    repeated to input size, so it is quantised to `downsample` px.
    """
    import torch

    from groundfm.depth.model import best_match

    w4 = volume.shape[1]
    found = best_match([torch.from_numpy(np.ascontiguousarray(volume))[None]], max_disparity=w4, sub_pixel=False)
    disparity = found[0, 0].numpy().astype(np.float32) * downsample
    full = np.repeat(np.repeat(disparity, downsample, axis=0), downsample, axis=1)
    return full[:height, :width]


def error_breakdown(pred: np.ndarray, gt: np.ndarray, left: np.ndarray) -> dict[str, list[dict[str, float]] | float]:
    """bad-2 and bias per GT-disparity quintile, bad-2 per texture quartile and in the left 10 % band."""
    import cv2

    valid = np.isfinite(gt)
    returned = valid & np.isfinite(pred)
    bad = ~returned | (np.abs(np.where(returned, pred, 0) - np.where(valid, gt, 0)) > 2)

    def bands(values: np.ndarray, quantiles: list[float], with_bias: bool) -> list[dict[str, float]]:
        edges = np.quantile(values[valid], quantiles)
        rows = []
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            upper = values <= hi if k == len(edges) - 2 else values < hi  # each pixel in exactly one band
            sel = valid & (values >= lo) & upper
            share = round(float(bad[sel].mean()), 4) if sel.any() else float('nan')
            row = {'from': round(float(lo), 2), 'to': round(float(hi), 2), 'bad2': share}
            if with_bias:
                both = sel & returned
                row['bias'] = round(float(np.mean(pred[both] - gt[both])), 3) if both.any() else float('nan')
            rows.append(row)
        return rows

    gray = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY).astype(np.float32)
    texture = cv2.GaussianBlur(np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)), (0, 0), 2)
    band = np.zeros_like(valid)
    band[:, : max(1, gt.shape[1] // 10)] = True
    return {'by_disparity': bands(gt, [0, 0.2, 0.4, 0.6, 0.8, 1.0], True),
            'by_texture': bands(texture, [0, 0.25, 0.5, 0.75, 1.0], False),
            'left_band': round(float(bad[valid & band].mean()), 4)}


def diagnose(weights: str | None, left: np.ndarray, right: np.ndarray, gt: np.ndarray, iterations: int,
             threads: int = 2) -> dict:
    """Run the model once with every intermediate estimate and break its error down (see the module docstring)."""
    import torch

    from groundfm.bench.depth import disparity_metrics
    from groundfm.depth.checkpoint import load_checkpoint
    from groundfm.depth.estimator import default_weights_path, invalid_disparity

    path = weights or default_weights_path()
    if path is None:
        raise FileNotFoundError('no weights given and no shipped model found')
    torch.set_num_threads(threads)
    model = load_checkpoint(path).eval()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()

    with torch.inference_mode():
        out = model(tensor(left), tensor(right), iterations=iterations, return_sequence=True)
    def as_estimated(d: np.ndarray) -> np.ndarray:
        return np.where(invalid_disparity(d, MAX_DISPARITY), np.nan, d).astype(np.float32)  # as the estimator

    sequence = [as_estimated(s[0, 0].numpy()) for s in out['sequence']]
    height, width = gt.shape
    wta = correlation_wta(out['correlation'][0].numpy(), height, width)
    valid = np.isfinite(gt)
    final = sequence[-1]
    return {
        'weights': str(path),
        'refine_from': model.cfg.refine_from,
        'start_bad2': round(disparity_metrics(as_estimated(out['start'][0, 0].numpy()), gt)['bad2'], 4),
        'per_iteration_bad2': [round(disparity_metrics(s, gt)['bad2'], 4) for s in sequence],
        'final': {k: round(v, 4) for k, v in disparity_metrics(final, gt).items()},
        'correlation_wta': {'bad2': round(disparity_metrics(wta, gt)['bad2'], 4),
                            'bad4': round(float((np.abs(wta - gt)[valid] > 4).mean()), 4)},
        **error_breakdown(final, gt, left),
    }


def main(argv: list[str] | None = None) -> int:
    """Print (and optionally save) the breakdown for one checkpoint on one pair."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('weights', nargs='?', default=None, help='checkpoint (default: the shipped model)')
    p.add_argument('--pair', choices=PAIRS, default='motorcycle_370x250')
    p.add_argument('--iterations', type=int, default=8,
                   help='refinement steps to trace (8, the default, is what the node and benchmark run)')
    p.add_argument('--sim-cache', default='runs/depth_sim_val.npz')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--json', default='', help='also write the result here')
    args = p.parse_args(argv)
    left, right, gt = load_pair(args.pair, Path(args.sim_cache))
    result = {'pair': args.pair, 'iterations': args.iterations,
              **diagnose(args.weights, left, right, gt, args.iterations, args.threads)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        from groundfm.io import atomic_write_bytes

        atomic_write_bytes(args.json, (text + '\n').encode())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
