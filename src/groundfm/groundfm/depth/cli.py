"""`groundfm depth LEFT.png RIGHT.png -o OUT`: disparity of a rectified pair, offline.

Writes OUT.npy (float32 disparity of the left image in pixels, NaN where invalid) and OUT.png (colour-coded,
near = warm, invalid = black). Example:

    groundfm depth left.png right.png --max-disp 64 --backend sgbm -o out/pair
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from groundfm.depth.config import PRECISIONS
from groundfm.depth.estimator import BACKENDS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `depth` verb."""
    parser = subparsers.add_parser('depth', help='disparity of a rectified stereo pair (offline)',
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('left', help='left rectified image (PNG/JPEG)')
    parser.add_argument('right', help='right rectified image, same size')
    parser.add_argument('-o', '--out', required=True, help='output path prefix: writes OUT.npy and OUT.png')
    parser.add_argument('--max-disp', type=int, default=96, help='largest disparity [px] (default 96)')
    parser.add_argument('--backend', choices=BACKENDS, default='model', help='model (StereoAdapter) or sgbm')
    parser.add_argument('--weights', default='', help='StereoAdapter safetensors (default: the shipped model)')
    parser.add_argument('--iterations', type=int, default=None, help='refinement iterations (model backend)')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0 = library default)')
    parser.add_argument('--device', default='cpu', help="model backend's torch device: cpu, cuda[:N] or auto")
    parser.add_argument('--precision', default='auto', choices=PRECISIONS,
                        help="model backend's arithmetic (auto: bf16 on CPUs with native bf16, else fp32)")
    parser.set_defaults(func=run)
    return parser


def colorize(disparity: np.ndarray, max_disparity: float | None = None) -> np.ndarray:
    """(h, w) disparity [px] -> (h, w, 3) uint8 BGR (turbo colour map, NaN black)."""
    import cv2

    valid = np.isfinite(disparity)
    top = max_disparity or (float(np.nanpercentile(disparity, 99)) if valid.any() else 1.0)
    scaled = np.clip(np.nan_to_num(disparity) / max(top, 1e-6), 0, 1)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    bgr[~valid] = 0
    return bgr


def run(args: argparse.Namespace) -> int:
    """Read the pair, estimate, write OUT.npy and OUT.png; returns the exit code."""
    import cv2

    images = []
    for path in (args.left, args.right):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            print(f'error: cannot read image {path}', file=sys.stderr)
            return 2
        images.append(np.ascontiguousarray(img[..., ::-1]))  # BGR -> RGB
    left, right = images
    if left.shape != right.shape:
        print(f'error: left is {left.shape[1]}x{left.shape[0]} but right is {right.shape[1]}x{right.shape[0]}; '
              'a rectified pair has equal sizes', file=sys.stderr)
        return 2
    if args.max_disp < 1:
        print(f'error: --max-disp must be >= 1, got {args.max_disp}', file=sys.stderr)
        return 2
    from groundfm.depth.estimator import DepthEstimator

    try:
        estimator = DepthEstimator(args.backend, args.weights or None, args.iterations, args.max_disp,
                                   args.threads or None, args.device, args.precision)
        result = estimator.estimate(left, right)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    npy, png = out.with_name(out.name + '.npy'), out.with_name(out.name + '.png')
    np.save(npy, result.disparity.astype(np.float32))
    cv2.imwrite(str(png), colorize(result.disparity, args.max_disp))
    valid = np.isfinite(result.disparity)
    print(f'{args.backend}: {left.shape[1]}x{left.shape[0]} in {result.ms:.0f} ms, density {valid.mean():.1%}, '
          f'disparity {np.nanmin(result.disparity) if valid.any() else 0:.1f}..'
          f'{np.nanmax(result.disparity) if valid.any() else 0:.1f} px -> {npy}, {png}')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the verb without the `groundfm` entry point (python -m groundfm.depth.cli ...)."""
    parser = argparse.ArgumentParser(prog='groundfm')
    add_parser(parser.add_subparsers(dest='verb', required=True))
    args = parser.parse_args(['depth', *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
