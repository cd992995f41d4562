"""Does stage b (self-supervised adaptation, no labels) lower the error on a shifted domain? Before/after numbers.

The shifted domain is a different robot camera in unseen houses: dim light (0.15-0.35 of nominal, pretraining saw
0.4-1.6), a wider baseline (0.24-0.30 m vs 0.06-0.20 m, so larger disparities), and a noisy low-light sensor
(gain, read noise, a warm colour cast). Houses: 5000-5005 give the unlabelled adaptation pairs, 6000-6002 the
labelled evaluation pairs; neither was used in pretraining (1000 + 7 i, i < 40) nor by the benchmark (< 1000).

  python -m groundfm_training.depth.adapt_eval --init runs/depth_pretrain/model.safetensors --out runs/depth_adapt

--domain motorcycle instead adapts on the benchmark's Motorcycle 370x250 pair itself (its labels unused) and evaluates
on that pair and its 741x500 version: test-time adaptation to a real camera, reported apart from the benchmark and
never used to choose shipped weights (the pair is test data; here it is also the only real stereo pair available).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from groundfm.io import atomic_write_json
from groundfm_training.depth.data import SimPairsConfig, sim_pairs

ADAPT_HOUSES = [5000, 5001, 5002, 5003, 5004, 5005]
EVAL_HOUSES = [6000, 6001, 6002]
SHIFTED = SimPairsConfig(views_per_house=12, baseline_range_m=(0.24, 0.30), light_range=(0.15, 0.35),
                         min_depth_m=0.4)


def sensor(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The shifted camera's low-light sensor: gain, warm cast, read noise; (h, w, 3) uint8 -> uint8."""
    x = image.astype(np.float32) * rng.uniform(1.6, 2.2) * np.array([1.1, 1.0, 0.8], np.float32)
    x = x + rng.normal(0.0, 6.0, x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


def make_pairs(path: Path, houses: list[int], cfg: SimPairsConfig, seed: int) -> int:
    """Render the shifted-domain pairs (with GT, used for evaluation only) into an .npz; returns the count."""
    rng = np.random.default_rng(seed)
    lefts, rights, disps = [], [], []
    for s in sim_pairs(houses, cfg, seed):
        lefts.append(sensor(rng, s.left))
        rights.append(sensor(rng, s.right))
        disps.append(s.disparity)
    np.savez(path, left=np.stack(lefts), right=np.stack(rights), disparity=np.stack(disps))
    return len(lefts)


def make_motorcycle_pairs(out: Path) -> tuple[Path, dict[str, Path]]:
    """The Motorcycle pair at 370x250 (adaptation and evaluation) and 741x500 (evaluation) as .npz files."""
    from groundfm.bench.depth import motorcycle

    files = {}
    for size, name in (('half', 'motorcycle_370x250'), ('full', 'motorcycle_741x500')):
        left, right, gt, _ = motorcycle(size)
        files[name] = out / f'{name}.npz'
        np.savez(files[name], left=left[None], right=right[None], disparity=gt[None])
    return files['motorcycle_370x250'], files


def evaluate(weights: Path, pairs: Path, iterations: int | None = None) -> dict[str, float]:
    """EPE, bad-1/2/3 (holes count as errors) and AbsRel-of-disparity of a checkpoint on labelled pairs."""
    from groundfm.bench.depth import disparity_metrics
    from groundfm.depth.estimator import DepthEstimator

    estimator = DepthEstimator('model', weights, iterations, max_disparity=192, threads=2)
    rows = []
    with np.load(pairs) as z:
        for left, right, gt in zip(z['left'], z['right'], z['disparity'], strict=True):
            pred, _ = estimator.disparity(left, right)
            m = disparity_metrics(pred, gt)
            valid = np.isfinite(gt) & np.isfinite(pred)
            m['absrel'] = float(np.mean(np.abs(pred[valid] - gt[valid]) / gt[valid]))
            rows.append(m)
    return {k: float(np.mean([r[k] for r in rows])) for k in ('epe', 'bad1', 'bad2', 'bad3', 'absrel')}


def main(argv: list[str] | None = None) -> int:
    """Render the domain, evaluate, adapt without labels, evaluate again, write OUT/adapt_eval.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--init', required=True, help='pretrained checkpoint')
    p.add_argument('--out', required=True)
    p.add_argument('--steps', type=int, default=150)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--lr', type=float, default=3e-4)
    p.add_argument('--adapt-params', choices=('lora', 'lora+refine'), default='lora',
                   help='lora: only the encoder adapters (the paper); lora+refine: also the refinement')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--domain', choices=('sim-shift', 'motorcycle'), default='sim-shift',
                   help='sim-shift: the shifted sim camera above; motorcycle: test-time adaptation on the real pair')
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.domain == 'motorcycle':
        adapt_pairs, eval_sets = make_motorcycle_pairs(out)
        domain = 'Middlebury Motorcycle 370x250, adapted on the evaluation pair itself (labels unused)'
    else:
        adapt_pairs, eval_pairs = out / 'shifted_unlabelled.npz', out / 'shifted_eval.npz'
        if not adapt_pairs.exists():
            print(f'rendering adaptation pairs: {make_pairs(adapt_pairs, ADAPT_HOUSES, SHIFTED, 1)}', flush=True)
        if not eval_pairs.exists():
            print(f'rendering evaluation pairs: {make_pairs(eval_pairs, EVAL_HOUSES, SHIFTED, 2)}', flush=True)
        eval_sets = {'shifted_eval': eval_pairs}
        domain = (f'dim light 0.15-0.35, baseline 0.24-0.30 m, noisy warm sensor; houses {ADAPT_HOUSES} (unlabelled) / '
                  f'{EVAL_HOUSES} (eval)')
    before = {name: evaluate(Path(args.init), pairs) for name, pairs in eval_sets.items()}
    print(f'before adaptation: {before}', flush=True)
    from groundfm_training.depth.train import main as train_main

    start = time.monotonic()
    train_main(['--stage', 'adapt', '--init', args.init, '--unlabelled', str(adapt_pairs), '--out', str(out),
                '--steps', str(args.steps), '--batch', str(args.batch), '--lr', str(args.lr), '--crop', '192', '320',
                '--adapt-params', args.adapt_params, '--seed', str(args.seed), '--save-every', '50'])
    minutes = (time.monotonic() - start) / 60
    after = {name: evaluate(out / 'model.safetensors', pairs) for name, pairs in eval_sets.items()}
    print(f'after adaptation: {after}', flush=True)
    report = {'domain': domain, 'before': before, 'after': after, 'adapt_steps': args.steps,
              'adapt_minutes': round(minutes, 1), 'adapt_params': args.adapt_params, 'init': args.init}
    atomic_write_json(out / 'adapt_eval.json', report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
