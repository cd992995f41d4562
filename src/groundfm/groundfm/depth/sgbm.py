"""OpenCV StereoSGBM (3-way) backend: the classical baseline, and the fallback for machines too slow for the network.

Same contract as the model: RGB uint8 pair -> disparity of the left image [px] (NaN where SGBM returns no match)
and a confidence map (1 where matched, 0 in holes).
"""

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SGBMConfig:
    """StereoSGBM parameters (the defaults are the BENCHMARKS baseline: 3-way, block 3)."""

    max_disparity: int = 64  # searched disparities [px]; rounded up to a multiple of 16
    block_size: int = 3  # matching block side [px], odd
    uniqueness_ratio: int = 10  # [%] margin of the best cost over the second best
    speckle_window_size: int = 100  # [px] connected regions smaller than this are removed
    speckle_range: int = 2  # [px] largest disparity step inside one speckle region
    disp12_max_diff: int = 1  # [px] left-right consistency tolerance
    pre_filter_cap: int = 63

    def __post_init__(self) -> None:
        if self.max_disparity < 1:
            raise ValueError(f'max_disparity must be >= 1, got {self.max_disparity}')
        if self.block_size < 1 or self.block_size % 2 == 0:
            raise ValueError(f'block_size must be odd and >= 1, got {self.block_size}')


class SGBMStereo:
    """StereoSGBM_3WAY on a rectified pair."""

    def __init__(self, cfg: SGBMConfig | None = None) -> None:
        self.cfg = cfg = cfg or SGBMConfig()
        bs = cfg.block_size
        self.num_disparities = int(np.ceil(cfg.max_disparity / 16) * 16)
        self._matcher = cv2.StereoSGBM_create(
            minDisparity=0, numDisparities=self.num_disparities, blockSize=bs, P1=8 * 3 * bs * bs,
            P2=32 * 3 * bs * bs, disp12MaxDiff=cfg.disp12_max_diff, preFilterCap=cfg.pre_filter_cap,
            uniquenessRatio=cfg.uniqueness_ratio, speckleWindowSize=cfg.speckle_window_size,
            speckleRange=cfg.speckle_range, mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)

    def __call__(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """left, right (h, w, 3) RGB or (h, w) grey uint8 -> disparity (h, w) float32 [px, NaN hole], confidence."""
        if left.shape != right.shape:
            raise ValueError(f'left {left.shape} and right {right.shape} differ')
        if left.dtype != np.uint8:
            raise ValueError(f'SGBM needs uint8 images, got {left.dtype}')
        raw = self._matcher.compute(np.ascontiguousarray(left), np.ascontiguousarray(right))  # int16, x16
        disparity = raw.astype(np.float32) / 16.0
        valid = raw >= 0
        disparity[~valid] = np.nan
        return disparity, valid.astype(np.float32)
