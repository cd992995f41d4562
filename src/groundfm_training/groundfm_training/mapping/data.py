"""Sim data engine for VolSplat: posed RGB-D sequences from house seeds, cached as npz (one file per seed).

Splits by house seed so nothing of a held-out house is ever trained on: TRAIN_SEEDS (>= 100) for training, VAL_SEEDS
for validation during training; the benchmark (`groundfm bench mapping`) uses seeds 0-9, disjoint from both.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from groundfm.io import atomic_write_bytes
from groundfm.mapping.sequence import Frame, render_sequence

TRAIN_SEEDS = tuple(range(100, 164))
VAL_SEEDS = (50, 51)


@dataclass
class Sequence:
    """A posed sequence: rgb (n, H, W, 3) uint8, depth (n, H, W) float32 [m], k (3, 3), poses (n, 4, 4) cam -> map."""

    rgb: np.ndarray
    depth: np.ndarray
    k: np.ndarray
    poses: np.ndarray

    def frame(self, i: int) -> Frame:
        """Frame i (labels are not cached)."""
        return Frame(self.rgb[i], self.depth[i], np.zeros(self.depth.shape[1:], np.int32), self.k, self.poses[i])


def load_or_render(cache: Path, seed: int, n_frames: int, width: int = 320, height: int = 240) -> Sequence:
    """The sequence of house `seed` from the cache, rendering (and caching atomically) it first if absent."""
    import io

    path = Path(cache) / f'seed{seed:04d}_{n_frames}_{width}x{height}.npz'
    if not path.exists():
        frames = render_sequence(seed, n_frames, walk_seed=seed, width=width, height=height)
        buf = io.BytesIO()
        np.savez(buf, rgb=np.stack([f.rgb for f in frames]), depth=np.stack([f.depth for f in frames]),
                 k=frames[0].k, poses=np.stack([f.t_map_cam for f in frames]))
        atomic_write_bytes(path, buf.getvalue())
    with np.load(path) as f:
        return Sequence(f['rgb'], f['depth'], f['k'], f['poses'])
