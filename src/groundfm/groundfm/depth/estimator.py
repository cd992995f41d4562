"""Backend-agnostic stereo depth: rectified RGB pair (numpy) -> disparity [px], metric depth [m], confidence.

depth = fx * B / d (planar z of the left optical frame, REP-103/118); NaN where there is no valid disparity.
Backends: 'model' (StereoAdapter, safetensors weights) or 'sgbm' (OpenCV StereoSGBM_3WAY).
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from groundfm.depth.config import DEFAULT_WEIGHTS, PRECISIONS

if TYPE_CHECKING:  # torch is imported lazily: the sgbm backend runs without it
    import torch

BACKENDS = ('model', 'sgbm')


@dataclass
class DepthResult:
    """One estimate on the left image's grid."""

    disparity: np.ndarray  # (h, w) float32 [px], NaN invalid
    confidence: np.ndarray  # (h, w) float32 in [0, 1]
    depth: np.ndarray | None = None  # (h, w) float32 [m], NaN invalid; None if no calibration was given
    ms: float = 0.0  # wall time of the backend [ms]


def default_weights_path() -> Path | None:
    """The shipped StereoAdapter weights: the repository's models/ or the installed share/groundfm/models/."""
    here = Path(__file__).resolve()
    candidates = [here.parents[4] / 'models' / DEFAULT_WEIGHTS, here.parents[2] / 'models' / DEFAULT_WEIGHTS,
                  Path(sys.prefix) / 'share' / 'groundfm' / 'models' / DEFAULT_WEIGHTS]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory('groundfm')) / 'models' / DEFAULT_WEIGHTS)
    except Exception:  # not installed as an ament package: the source tree paths still apply
        pass
    return next((p for p in candidates if p.is_file()), None)


def disparity_to_depth(disparity: np.ndarray, fx: float, baseline: float) -> np.ndarray:
    """depth = fx * B / d [m] (NaN where d is NaN or <= 0); fx [px], baseline [m]."""
    if not (np.isfinite(fx) and fx > 0 and np.isfinite(baseline) and baseline > 0):
        raise ValueError(f'fx and baseline must be finite and > 0, got fx={fx}, baseline={baseline}')
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = (fx * baseline / disparity).astype(np.float32)
    depth[~(disparity > 0)] = np.nan
    return depth


def to_rgb(image: np.ndarray, encoding: str = 'rgb8') -> np.ndarray:
    """rgb8 / bgr8 / rgba8 / mono8 pixels -> (h, w, 3) uint8 RGB; ValueError for anything else."""
    if image.dtype != np.uint8:
        raise ValueError(f'expected 8-bit images, got {image.dtype} ({encoding})')
    if encoding == 'rgb8' and image.ndim == 3 and image.shape[2] == 3:
        return image
    if encoding == 'bgr8' and image.ndim == 3 and image.shape[2] == 3:
        return image[..., ::-1]
    if encoding == 'rgba8' and image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3]
    if encoding == 'mono8' and image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    raise ValueError(f'unsupported image: encoding {encoding!r} with shape {image.shape}; '
                     'use rgb8, bgr8, rgba8 or mono8')


def invalid_disparity(disparity: np.ndarray, max_disparity: float) -> np.ndarray:
    """Where a raw model estimate is a hole: not in (0, max_disparity] (or NaN); (h, w) bool."""
    return ~(disparity > 0) | (disparity > max_disparity)


def model_device(name: str):
    """The torch device for 'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when present); ValueError if it is malformed or
    absent (never a silent fallback to the CPU)."""
    import torch

    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'auto', got {name!r}") from err
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'auto', got {name!r}")
    if device.type == 'cuda' and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f'device {name!r}: torch {torch.__version__} sees {torch.cuda.device_count()} CUDA '
                         "device(s); use device 'cpu' or the sgbm backend")
    return device


def model_precision(name: str, device: 'torch.device') -> str:
    """'fp32' or 'bf16' for the model backend: 'auto' is bf16 on a CPU with native bf16 (AVX512-BF16 or AMX) and
    fp32 elsewhere (emulated bf16 is slower; CUDA bf16 is untested here). ValueError for an unknown name."""
    import torch

    if name not in PRECISIONS:
        raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {name!r}')
    if name != 'auto':
        return name
    probes = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')  # private torch API: absent means no
    native = device.type == 'cpu' and any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return 'bf16' if native else 'fp32'


class DepthEstimator:
    """Pick a backend once; then `estimate(left, right, fx, baseline)` per rectified pair."""

    def __init__(self, backend: str = 'model', weights: str | Path | None = None, iterations: int | None = None,
                 max_disparity: int = 96, threads: int | None = None, device: str = 'cpu',
                 precision: str = 'auto') -> None:
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {", ".join(BACKENDS)}, got {backend!r}')
        if precision not in PRECISIONS:  # checked for sgbm too, so a typo never waits for a backend switch
            raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {precision!r}')
        self.backend, self.iterations, self.max_disparity = backend, iterations, max_disparity
        self.precision: str | None = None  # the model backend's: 'fp32' or 'bf16'
        self.weights: Path | None = None
        if threads:
            import cv2

            cv2.setNumThreads(threads)
        if backend == 'sgbm':
            from groundfm.depth.sgbm import SGBMConfig, SGBMStereo

            self._sgbm = SGBMStereo(SGBMConfig(max_disparity=max_disparity))
        else:
            import torch

            from groundfm.depth.checkpoint import load_checkpoint

            if threads:
                torch.set_num_threads(threads)
            path = Path(weights) if weights else default_weights_path()
            if path is None:
                raise ValueError(f'no StereoAdapter weights: pass weights=PATH or install models/{DEFAULT_WEIGHTS}')
            self.weights = path
            self._device = model_device(device)
            self.precision = model_precision(precision, self._device)
            self._model = load_checkpoint(path, device=str(self._device)).to(memory_format=torch.channels_last)
            if iterations is not None and iterations < 0:
                raise ValueError(f'iterations must be >= 0, got {iterations}')

    def disparity(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """left, right (h, w, 3) uint8 RGB -> disparity (h, w) float32 [px, NaN invalid], confidence (h, w)."""
        if left.shape != right.shape:
            raise ValueError(f'left {left.shape} and right {right.shape} differ in size')
        if left.ndim != 3 or left.shape[2] != 3 or left.dtype != np.uint8:
            raise ValueError(f'expected (h, w, 3) uint8 RGB images, got {left.dtype} {left.shape}')
        if self.backend == 'sgbm':
            return self._sgbm(left, right)
        import torch

        def to_t(a: np.ndarray) -> torch.Tensor:  # (h, w, 3) uint8 -> (1, 3, h, w) float, channels last (faster convs)
            return torch.from_numpy(np.ascontiguousarray(a)).to(self._device)[None].permute(0, 3, 1, 2).float()

        with torch.inference_mode(), torch.autocast(self._device.type, torch.bfloat16,
                                                    enabled=self.precision == 'bf16'):
            out = self._model(to_t(left), to_t(right), iterations=self.iterations)
        disparity = np.ascontiguousarray(out['disparity'][0, 0].float().cpu().numpy())
        confidence = np.ascontiguousarray(out['confidence'][0, 0].float().cpu().numpy())
        invalid = invalid_disparity(disparity, self.max_disparity)
        disparity[invalid] = np.nan
        confidence[invalid] = 0.0
        return disparity, confidence

    def estimate(self, left: np.ndarray, right: np.ndarray, fx: float | None = None,
                 baseline: float | None = None) -> DepthResult:
        """Disparity and confidence, plus depth [m] when fx [px] and baseline [m] are given."""
        import time

        start = time.perf_counter()
        disparity, confidence = self.disparity(left, right)
        ms = (time.perf_counter() - start) * 1e3
        depth = disparity_to_depth(disparity, fx, baseline) if fx is not None and baseline is not None else None
        return DepthResult(disparity, confidence, depth, ms)
