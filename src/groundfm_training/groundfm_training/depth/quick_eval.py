"""Quick progress check of a StereoAdapter checkpoint while it trains (minutes, not the full benchmark).

  python -m groundfm_training.depth.quick_eval runs/depth_pretrain/last.safetensors --iterations 4 8 16

Sets (seeded, none used for training):
  flying_val: 12 procedural FlyingThings-style pairs (seeds 900_000 + i, 192x320, disparities up to 48 px);
  sim_val:    sim houses 7000-7002, 4 views each (training houses are 1000 + 7 i, the benchmark's < 1000), rendered
              once into --sim-cache;
  motorcycle_370x250 (only with --motorcycle): the benchmark's test pair, for reporting, not for tuning.
Prints EPE, bad-2 (holes are errors) and ms per pair per set and iteration count; appends a JSON line to --log.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from groundfm.depth.config import PRECISIONS

FLYING_VAL_SEED = 900_000
SIM_VAL_HOUSES = [7000, 7001, 7002]


def flying_val(n: int = 12) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n seeded procedural pairs (left, right uint8, disparity float32 [px])."""
    from groundfm_training.depth.data import FlyingConfig, FlyingScenes

    scenes = FlyingScenes(FlyingConfig(height=192, width=320, max_disparity=48.0))
    return [scenes.sample(np.random.default_rng(FLYING_VAL_SEED + i)) for i in range(n)]


def sim_val(cache: Path, views: int = 4) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Views of the validation houses (cached in an .npz after the first call)."""
    if not cache.exists():
        from groundfm_training.depth.data import SimPairsConfig, sim_pairs

        samples = list(sim_pairs(SIM_VAL_HOUSES, SimPairsConfig(views_per_house=views), seed=7))
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, left=np.stack([s.left for s in samples]), right=np.stack([s.right for s in samples]),
                 disparity=np.stack([s.disparity for s in samples]))
    with np.load(cache) as z:
        return list(zip(z['left'], z['right'], z['disparity'], strict=True))


def evaluate(estimator, pairs) -> dict[str, float]:
    """Mean EPE / bad2 (holes are errors) / ms over pairs for one DepthEstimator."""
    from groundfm.bench.depth import disparity_metrics

    rows = []
    for left, right, gt in pairs:
        start = time.perf_counter()
        pred, _ = estimator.disparity(left, right)
        m = disparity_metrics(pred, np.where(gt < 192, gt, np.nan).astype(np.float32))
        m['ms'] = (time.perf_counter() - start) * 1e3
        rows.append(m)
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ('epe', 'bad2', 'ms')}


def main(argv: list[str] | None = None) -> int:
    """Evaluate each checkpoint at each iteration count; print and log."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('weights', nargs='+')
    p.add_argument('--iterations', type=int, nargs='+', default=[8])
    p.add_argument('--sim-cache', default='runs/depth_sim_val.npz')
    p.add_argument('--motorcycle', action='store_true', help='also the benchmark pair (report only)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--precision', default='fp32', choices=PRECISIONS,
                   help='model arithmetic (fp32 by default, so records stay comparable with earlier ones)')
    p.add_argument('--log', default='runs/depth_quick_eval.jsonl')
    args = p.parse_args(argv)
    from groundfm.depth.estimator import DepthEstimator

    sets = {'flying_val': flying_val(), 'sim_val': sim_val(Path(args.sim_cache))}
    if args.motorcycle:
        from groundfm.bench.depth import motorcycle

        left, right, gt, _ = motorcycle('half')
        sets['motorcycle_370x250'] = [(left, right, gt)]
    for weights in args.weights:
        for iterations in args.iterations:
            estimator = DepthEstimator('model', weights, iterations, max_disparity=192, threads=args.threads,
                                       precision=args.precision)
            record = {'weights': weights, 'iterations': iterations, 'precision': estimator.precision,
                      **{name: evaluate(estimator, pairs) for name, pairs in sets.items()}}
            print(json.dumps(record), flush=True)
            with open(args.log, 'a') as f:
                f.write(json.dumps({'time': round(time.time(), 1), **record}) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
