"""Streaming hashed sparse voxel grid: each keyframe's pixels are lifted and fused into running per-voxel means.

Frames: points and poses are in the map frame (metres). A pixel (u, v) with planar depth z in the optical frame (x
right, y down, z forward) lifts to P = R (z K^-1 [u, v, 1]) + t, as in VolSplat (arXiv 2509.19297) step 2; it falls
in voxel round(P / voxel_size) (step 3), whose centre is index * voxel_size.

Per voxel the map keeps the running mean of 18 per-point channels (colour, squared colour, position relative to the
voxel centre and its outer products, unit direction to the camera), the point count, the keyframe it was last seen
in, a streaming-majority instance label, free-space evidence (keyframes that saw the voxel's surface, `hits`, and
keyframes whose rays passed through it to a farther surface, `misses`: stereo outliers floating in free space are seen
through again and again, real surfaces are not) and its 27-neighbour table. Only the voxels a keyframe touches are
updated, so the cost per keyframe depends on the image, not on the map size: the hash table is open-addressing and
vectorised (amortised O(1) per key), and neighbours are linked once when a voxel is created. The free-space test
projects the voxels seen in the last `see_through_window` keyframes (a bounded set) into each new keyframe.

Memory policy: at most `voxel_budget` live voxels. When an insert goes over the budget, the least recently seen
voxels (oldest `last_seen` keyframe, fewest points first among equals) are evicted until `evict_fraction` of the
budget is free again; evicting in chunks keeps the O(budget) selection amortised to O(1) per new voxel. Areas left
long ago are forgotten first, which suits a robot that keeps exploring; revisiting rebuilds them.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from groundfm.io import atomic_write_bytes
from groundfm.mapping.config import MapConfig

CHANNELS = 18  # rgb 3, rgb^2 3, local xyz 3, local xx yy zz xy xz yz 6, direction to camera 3
VOXEL_FEATURE_DIM = 19  # network input per voxel (see VoxelMap.features)
_OFF = 1 << 20  # coordinate offset: voxel indices must lie in [-2^20, 2^20)
_EMPTY, _TOMB = -1, -2
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
# The 27 neighbour offsets in lexicographic (dx, dy, dz) order; offset k and 26 - k are opposite, 13 is the voxel.
NEIGHBOUR_OFFSETS = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing='ij'), -1).reshape(27, 3)


def pack_keys(coords: np.ndarray) -> np.ndarray:
    """Integer voxel coordinates (n, 3) -> non-negative int64 keys (n,); raise if out of range."""
    c = np.asarray(coords, dtype=np.int64) + _OFF
    if c.size and (c.min() < 0 or c.max() >= 2 * _OFF):
        raise ValueError(f'voxel coordinates must lie in [-{_OFF}, {_OFF}); got [{c.min() - _OFF}, {c.max() - _OFF}]')
    return (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]


def unpack_keys(keys: np.ndarray) -> np.ndarray:
    """int64 keys (n,) -> voxel coordinates (n, 3) int32."""
    k = np.asarray(keys, dtype=np.int64)
    mask = (1 << 21) - 1
    return (np.stack([(k >> 42) & mask, (k >> 21) & mask, k & mask], -1) - _OFF).astype(np.int32)


class VoxelHash:
    """Open-addressing hash table int64 key -> int32 value, vectorised over batches of keys (linear probing)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        cap = 1 << max(4, int(np.ceil(np.log2(max(capacity, 16)))))
        self._keys = np.full(cap, _EMPTY, np.int64)
        self._vals = np.full(cap, -1, np.int32)
        self._live = 0
        self._tomb = 0

    def __len__(self) -> int:
        return self._live

    def _home(self, keys: np.ndarray) -> np.ndarray:
        mask = len(self._keys) - 1
        shift = np.uint64(64 - int(np.log2(len(self._keys))))
        return ((keys.astype(np.uint64) * _HASH_MUL) >> shift).astype(np.int64) & mask

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Table position of each key (n,), -1 where absent."""
        pos = self._home(keys)
        out = np.full(len(keys), -1, np.int64)
        active = np.arange(len(keys))
        mask = len(self._keys) - 1
        while active.size:
            found = self._keys[pos[active]]
            hit = found == keys[active]
            out[active[hit]] = pos[active[hit]]
            go_on = ~hit & (found != _EMPTY)
            active = active[go_on]
            pos[active] = (pos[active] + 1) & mask
        return out

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Values of keys (n,) int32, -1 where absent."""
        keys = np.asarray(keys, np.int64)
        pos = self._find(keys)
        out = np.full(len(keys), -1, np.int32)
        ok = pos >= 0
        out[ok] = self._vals[pos[ok]]
        return out

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert distinct keys (n,) that are not in the table yet, with their values."""
        keys, values = np.asarray(keys, np.int64), np.asarray(values, np.int32)
        if (self._live + self._tomb + len(keys)) * 2 > len(self._keys):
            self._rehash(self._live + len(keys))
        mask = len(self._keys) - 1
        pos = self._home(keys)
        active = np.arange(len(keys))
        while active.size:
            p = pos[active]
            free = self._keys[p] < 0
            cand = active[free]
            _, first = np.unique(pos[cand], return_index=True)  # one winner per free slot
            won = cand[first]
            self._tomb -= int(np.count_nonzero(self._keys[pos[won]] == _TOMB))
            self._keys[pos[won]] = keys[won]
            self._vals[pos[won]] = values[won]
            done = np.zeros(len(keys), bool)
            done[won] = True
            busy = active[~free]
            pos[busy] = (pos[busy] + 1) & mask  # losers of a contested slot re-read it (now taken) next round
            active = active[~done[active]]
        self._live += len(keys)

    def delete(self, keys: np.ndarray) -> None:
        """Remove keys (n,) that are in the table."""
        pos = self._find(np.asarray(keys, np.int64))
        pos = pos[pos >= 0]
        self._keys[pos] = _TOMB
        self._vals[pos] = -1
        self._live -= len(pos)
        self._tomb += len(pos)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All (keys, values) currently stored."""
        ok = self._keys >= 0
        return self._keys[ok], self._vals[ok]

    def _rehash(self, need: int) -> None:
        keys, vals = self.items()
        self.__init__(max(4 * need, 16))
        if len(keys):
            self.insert(keys, vals)


@dataclass
class IntegrateStats:
    """What one keyframe did to the map."""

    points: int  # lifted pixels
    touched: int  # voxels updated
    created: int  # new voxels
    evicted: int  # voxels dropped for the budget


def lift(depth: np.ndarray, k: np.ndarray, t_map_cam: np.ndarray, stride: int, min_depth: float,
         max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Valid pixels of a planar depth image (H, W) [m] -> map points (n, 3) float32 and flat pixel indices (n,)."""
    h, w = depth.shape
    z = depth[::stride, ::stride].astype(np.float32)
    ok = np.isfinite(z) & (z >= min_depth) & (z <= max_depth)
    vs, us = np.nonzero(ok)
    z = z[vs, us]
    vs, us = vs * stride, us * stride
    x = (us.astype(np.float32) - np.float32(k[0, 2])) * np.float32(1.0 / k[0, 0]) * z
    y = (vs.astype(np.float32) - np.float32(k[1, 2])) * np.float32(1.0 / k[1, 1]) * z
    pts = np.stack([x, y, z], 1) @ t_map_cam[:3, :3].T.astype(np.float32) + t_map_cam[:3, 3].astype(np.float32)
    return pts, (vs * w + us).astype(np.int64)


def stereo_outliers(depth: np.ndarray, window_px: int, tolerance: float) -> np.ndarray:
    """Bool (H, W): pixels of a planar depth image (H, W) [m] that should not be lifted into the map.

    The inverse depth of a plane is affine in the pixel coordinates, so on any smooth surface (a floor or a wall seen
    at a slant too) a pixel's inverse depth equals the mean over a square window around it. Stereo mismatches in
    weak texture and the pixels beside a depth edge depart from that mean by more than tolerance [1/m] (for stereo,
    a disparity error in px / (fx * baseline)); a window with a hole in it lies beside a failed match, so its centre
    is not trusted either. window_px 0 or 1: nothing is an outlier.
    """
    if window_px <= 1:
        return np.zeros(depth.shape, bool)
    from scipy import ndimage

    finite = np.isfinite(depth) & (depth > 0)
    inverse = np.where(finite, 1.0 / np.where(finite, depth, 1.0), 0.0)
    full = ndimage.uniform_filter(finite.astype(np.float64), window_px) > 1.0 - 1e-6  # image edges: mirrored
    mean = ndimage.uniform_filter(inverse, window_px)
    return finite & ~(full & (np.abs(inverse - mean) <= tolerance))


def trusted_labels(labels: np.ndarray, depth: np.ndarray, margin_px: int, depth_step: float) -> np.ndarray:
    """Instance labels (H, W) int32 with -1 (no vote) where a pixel is not safely inside one surface of one label.

    A pixel votes only if every pixel within margin_px (a square window) has its label, a finite depth, and a depth
    within a factor (1 + depth_step) of every other one there. Label boundaries and depth discontinuities are where
    an estimated depth (stereo fattening, holes, mismatches) lifts a label onto another surface, which smears an
    object's box across the room; interior pixels carry the same label with the right depth. margin_px 0 keeps all.
    """
    if margin_px <= 0:
        return labels
    from scipy import ndimage

    size = 2 * margin_px + 1
    interior = ndimage.minimum_filter(labels, size=size) == ndimage.maximum_filter(labels, size=size)
    finite = np.isfinite(depth) & (depth > 0)
    near = ndimage.minimum_filter(np.where(finite, depth, 0.0), size=size)
    far = ndimage.maximum_filter(np.where(finite, depth, np.inf), size=size)
    smooth = (near > 0) & (far <= near * (1.0 + depth_step))
    return np.where(interior & smooth, labels, -1).astype(np.int32)


class VoxelMap:
    """A streaming sparse voxel map with running means per voxel; see the module docstring."""

    def __init__(self, cfg: MapConfig | None = None, capacity: int = 1 << 15) -> None:
        self.cfg = cfg or MapConfig()
        self.keyframes = 0  # keyframes integrated so far
        self.touched = np.zeros(0, np.int32)  # slots updated by the last integrate
        self._hash = VoxelHash(2 * capacity)
        self._alloc(capacity)
        self._free = np.arange(capacity - 1, -1, -1, dtype=np.int32)  # stack: pop from the end
        self._nfree = capacity

    # --- storage --------------------------------------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        old = getattr(self, 'key', None)
        n = 0 if old is None else len(old)

        def grow(name: str, shape: tuple, dtype, fill) -> None:
            arr = np.full((cap, *shape), fill, dtype)
            if n:
                arr[:n] = getattr(self, name)
            setattr(self, name, arr)

        grow('key', (), np.int64, -1)
        grow('count', (), np.float64, 0.0)
        grow('mean', (CHANNELS,), np.float32, 0.0)
        grow('label', (), np.int32, -1)
        grow('label_votes', (), np.float32, 0.0)
        grow('hits', (), np.float32, 0.0)
        grow('misses', (), np.float32, 0.0)
        grow('last_seen', (), np.int32, -1)
        grow('nbr', (27,), np.int32, -1)
        grow('alive', (), bool, False)

    def _take_slots(self, m: int) -> np.ndarray:
        if m > self._nfree:
            cap = len(self.key)
            new_cap = max(2 * cap, cap + m - self._nfree)
            self._alloc(new_cap)
            extra = np.arange(new_cap - 1, cap - 1, -1, dtype=np.int32)
            self._free = np.concatenate([extra, self._free[:self._nfree]])
            self._nfree = len(self._free)
        slots = self._free[self._nfree - m:self._nfree][::-1].copy()
        self._nfree -= m
        return slots

    @property
    def size(self) -> int:
        """Live voxels."""
        return len(self._hash)

    def slots(self) -> np.ndarray:
        """Slot indices of every live voxel (n,), ascending."""
        return np.flatnonzero(self.alive).astype(np.int32)

    def nbytes(self) -> int:
        """Bytes held by the per-voxel arrays and the hash table."""
        arrays = [self.key, self.count, self.mean, self.label, self.label_votes, self.hits, self.misses, self.last_seen,
                  self.nbr, self.alive, self._hash._keys, self._hash._vals, self._free]
        return int(sum(a.nbytes for a in arrays))

    # --- per-voxel quantities -------------------------------------------------------------------------------------
    def coords(self, slots: np.ndarray) -> np.ndarray:
        """Integer voxel coordinates (n, 3)."""
        return unpack_keys(self.key[slots])

    def centers(self, slots: np.ndarray) -> np.ndarray:
        """Voxel centres in the map frame (n, 3) [m]."""
        return self.coords(slots).astype(np.float64) * self.cfg.voxel_size

    def centroids(self, slots: np.ndarray) -> np.ndarray:
        """Mean of the points in each voxel, map frame (n, 3) [m]."""
        return self.centers(slots) + self.mean[slots, 6:9].astype(np.float64)

    def colors(self, slots: np.ndarray) -> np.ndarray:
        """Mean colour (n, 3) in [0, 1]."""
        return self.mean[slots, 0:3]

    def covariances(self, slots: np.ndarray) -> np.ndarray:
        """Covariance of the points in each voxel (n, 3, 3) [m^2]."""
        m = self.mean[slots].astype(np.float64)
        mu = m[:, 6:9]
        xx, yy, zz, xy, xz, yz = (m[:, 9 + i] for i in range(6))
        cov = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], -2)
        return cov - mu[:, :, None] * mu[:, None, :]

    def features(self, slots: np.ndarray) -> np.ndarray:
        """Network input per voxel (n, 19): colour, colour std, centroid/vs, covariance/vs^2, view dir, log count."""
        vs = self.cfg.voxel_size
        m = self.mean[slots]
        cov = self.covariances(slots) / vs ** 2
        iu = ([0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2])
        color_std = np.sqrt(np.maximum(m[:, 3:6] - m[:, 0:3] ** 2, 0.0))
        return np.concatenate([m[:, 0:3], color_std, m[:, 6:9] / vs, cov[:, iu[0], iu[1]], m[:, 15:18],
                               np.log1p(self.count[slots])[:, None] / 5.0], 1).astype(np.float32)

    def dilate(self, slots: np.ndarray, rings: int) -> np.ndarray:
        """Live slots within `rings` 27-neighbourhood steps of `slots` (sorted, unique)."""
        out = np.unique(slots)
        for _ in range(rings):
            nb = self.nbr[out].ravel()
            out = np.unique(np.concatenate([out, nb[nb >= 0]]))
        return out.astype(np.int32)

    # --- integration ----------------------------------------------------------------------------------------------
    def integrate(self, rgb: np.ndarray, depth: np.ndarray, k: np.ndarray, t_map_cam: np.ndarray,
                  labels: np.ndarray | None = None) -> IntegrateStats:
        """Fuse one keyframe: rgb (H, W, 3) uint8, planar depth (H, W) [m] (NaN = none), K (3, 3), T_map_cam (4, 4).

        labels (H, W) int32 instance ids (0 structure, < 0 none) vote for each voxel's label; only pixels inside one
        label and one smooth depth surface vote (see trusted_labels).
        """
        cfg, vs = self.cfg, self.cfg.voxel_size
        depth = np.asarray(depth)
        if depth.ndim != 2:
            raise ValueError(f'depth must be (H, W), got {depth.shape}')
        if rgb.shape != (*depth.shape, 3) or rgb.dtype != np.uint8:
            raise ValueError(f'rgb must be uint8 (H, W, 3) matching depth {depth.shape}, got {rgb.dtype} {rgb.shape}')
        if labels is not None and labels.shape != depth.shape:
            raise ValueError(f'labels {labels.shape} must match depth {depth.shape}')
        k, t_map_cam = np.asarray(k, np.float64), np.asarray(t_map_cam, np.float64)
        finite = np.isfinite(k).all() and np.isfinite(t_map_cam).all()
        if k.shape != (3, 3) or t_map_cam.shape != (4, 4) or not finite:
            raise ValueError('K must be a finite (3, 3) and T_map_cam a finite (4, 4) matrix')

        depth = np.where(stereo_outliers(depth, cfg.outlier_window_px, cfg.outlier_tolerance), np.nan, depth)
        pts, pix = lift(depth, k, t_map_cam, cfg.pixel_stride, cfg.min_depth, cfg.max_depth)
        self.keyframes += 1
        if len(pts) == 0:
            self.touched = np.zeros(0, np.int32)
            return IntegrateStats(0, 0, 0, 0)
        coords = np.round(pts / np.float32(vs)).astype(np.int64)
        keys = pack_keys(coords)
        # Group points by voxel with one sort; per-voxel sums of the channels with one reduceat.
        order = np.argsort(keys, kind='stable')
        sk = keys[order]
        first = np.r_[True, sk[1:] != sk[:-1]]
        starts = np.flatnonzero(first)
        ukeys = sk[starts]
        nb = np.diff(np.r_[starts, len(sk)]).astype(np.float64)
        inv = np.cumsum(first) - 1  # voxel of each (sorted) point
        pts, pix = pts[order], pix[order]
        local = pts - (coords[order] * vs).astype(np.float32)
        col = rgb.reshape(-1, 3)[pix].astype(np.float32) * np.float32(1.0 / 255.0)
        to_cam = t_map_cam[:3, 3].astype(np.float32) - pts
        to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
        x, y, z = local[:, 0], local[:, 1], local[:, 2]
        chans = np.concatenate([col, col * col, local, np.stack([x * x, y * y, z * z, x * y, x * z, y * z], 1), to_cam],
                               1)
        bmean = np.add.reduceat(chans, starts, axis=0).astype(np.float64) / nb[:, None]

        slots = self._hash.lookup(ukeys)
        new = slots < 0
        created = int(new.sum())
        if created:
            fresh = self._take_slots(created)
            slots[new] = fresh
            self._hash.insert(ukeys[new], fresh)
            self.key[fresh] = ukeys[new]
            self.alive[fresh] = True
            self.count[fresh] = 0.0
            self.mean[fresh] = 0.0
            self.label[fresh], self.label_votes[fresh] = -1, 0.0
            self.hits[fresh], self.misses[fresh] = 0.0, 0.0
            self._link(fresh)
        n_old = self.count[slots]
        w = (nb / (n_old + nb))[:, None]
        self.mean[slots] = (self.mean[slots] + (bmean - self.mean[slots]) * w).astype(np.float32)
        self.count[slots] = n_old + nb
        self.last_seen[slots] = self.keyframes
        self.hits[slots] += 1.0
        self._see_through(depth, k, t_map_cam, slots)
        if labels is not None:
            labels = trusted_labels(labels, depth, cfg.label_margin_px, cfg.label_depth_step)
            self._vote(slots, inv, labels.reshape(-1)[pix].astype(np.int64))
        self.touched = slots.astype(np.int32)
        evicted = self._enforce_budget()
        if evicted:
            self.touched = self.touched[self.alive[self.touched]]
        return IntegrateStats(len(pts), len(slots), created, evicted)

    def _see_through(self, depth: np.ndarray, k: np.ndarray, t_map_cam: np.ndarray, hit: np.ndarray) -> None:
        """Count a miss for every voxel seen in the last see_through_window keyframes (not hit by this one) that lies
        in front of the surface its pixel sees, by more than max(see_through_margin_m, see_through_rel * depth): the
        ray passed through it."""
        cfg = self.cfg
        if cfg.see_through_margin_m <= 0:
            return
        live = np.flatnonzero(self.alive & (self.last_seen >= self.keyframes - cfg.see_through_window)).astype(np.int32)
        pts = self.centroids(live) - t_map_cam[:3, 3]
        if not len(live):
            return
        near = np.einsum('ij,ij->i', pts, pts) < cfg.max_depth ** 2  # cheap cut before the projection
        live, pc = live[near], pts[near] @ t_map_cam[:3, :3]  # map -> optical: R^T (p - t), as row vectors
        z = pc[:, 2]
        front = z > cfg.min_depth
        live, pc, z = live[front], pc[front], z[front]
        h, w = depth.shape
        u = np.round(k[0, 0] * pc[:, 0] / z + k[0, 2]).astype(np.int64)
        v = np.round(k[1, 1] * pc[:, 1] / z + k[1, 2]).astype(np.int64)
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        live, z = live[inside], z[inside]
        seen = depth[v[inside], u[inside]]
        through = np.isfinite(seen) & (seen <= cfg.max_depth) & (
            z < seen - np.maximum(cfg.see_through_margin_m, cfg.see_through_rel * seen))
        miss = live[through]
        miss = miss[~np.isin(miss, hit)]
        self.misses[miss] += 1.0

    def free_space(self, slots: np.ndarray) -> np.ndarray:
        """(n,) bool: voxels seen through more often than see_through_ratio times their surface was seen."""
        return self.misses[slots] > self.cfg.see_through_ratio * self.hits[slots]

    def _link(self, fresh: np.ndarray) -> None:
        """Fill the neighbour table rows of new voxels and the back-links of their neighbours."""
        coords = unpack_keys(self.key[fresh]).astype(np.int64)
        nbr_keys = pack_keys((coords[:, None, :] + NEIGHBOUR_OFFSETS[None]).reshape(-1, 3))
        nb = self._hash.lookup(nbr_keys).reshape(-1, 27)
        self.nbr[fresh] = nb
        for k in range(27):
            ok = nb[:, k] >= 0
            self.nbr[nb[ok, k], 26 - k] = fresh[ok]

    def _vote(self, slots: np.ndarray, inv: np.ndarray, point_labels: np.ndarray) -> None:
        """Streaming majority (Boyer-Moore with weights) of instance labels per voxel."""
        ok = point_labels >= 0
        if not ok.any():
            return
        pair = inv[ok] * (1 << 32) + point_labels[ok]
        upair, cnt = np.unique(pair, return_counts=True)
        vox, lab = upair >> 32, upair & ((1 << 32) - 1)
        order = np.lexsort((cnt, vox))  # by voxel, then count ascending: the last of each voxel is its mode
        vox, lab, cnt = vox[order], lab[order], cnt[order]
        last = np.r_[vox[1:] != vox[:-1], True]
        s, lab, cnt = slots[vox[last]], lab[last].astype(np.int32), cnt[last].astype(np.float32)
        same = self.label[s] == lab
        votes = np.where(same, self.label_votes[s] + cnt, self.label_votes[s] - cnt)
        flip = votes < 0
        self.label[s] = np.where(flip, lab, self.label[s])
        self.label_votes[s] = np.abs(votes)

    def _enforce_budget(self) -> int:
        """Evict the least recently seen voxels when over budget; returns how many went."""
        cfg = self.cfg
        if self.size <= cfg.voxel_budget:
            return 0
        target = int(cfg.voxel_budget * (1.0 - cfg.evict_fraction))
        live = self.slots()
        n_evict = len(live) - target
        # Oldest last_seen first; among equals, fewest points first.
        score = self.last_seen[live].astype(np.float64) * 1e12 + np.minimum(self.count[live], 1e11)
        victims = live[np.argpartition(score, n_evict - 1)[:n_evict]]
        self.remove(victims)
        return len(victims)

    def remove(self, slots: np.ndarray) -> None:
        """Drop voxels (and their neighbour links) from the map."""
        slots = np.unique(np.asarray(slots, np.int32))
        slots = slots[self.alive[slots]]
        nb = self.nbr[slots]
        for k in range(27):
            ok = nb[:, k] >= 0
            self.nbr[nb[ok, k], 26 - k] = -1
        self._hash.delete(self.key[slots])
        self.alive[slots] = False
        self.key[slots] = -1
        self.nbr[slots] = -1
        self.count[slots] = 0.0
        self.hits[slots], self.misses[slots] = 0.0, 0.0
        self.last_seen[slots] = -1
        if self._nfree + len(slots) > len(self._free):
            self._free = np.concatenate([self._free, np.empty(len(slots), np.int32)])
        self._free[self._nfree:self._nfree + len(slots)] = slots[::-1]
        self._nfree += len(slots)

    # --- persistence ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every live voxel's state, in slot order, plus the map's counters (numpy arrays)."""
        s = self.slots()
        return {'key': self.key[s], 'count': self.count[s], 'mean': self.mean[s], 'label': self.label[s],
                'label_votes': self.label_votes[s], 'hits': self.hits[s], 'misses': self.misses[s],
                'last_seen': self.last_seen[s],
                'keyframes': np.array(self.keyframes, np.int64), 'voxel_size': np.array(self.cfg.voxel_size)}

    def save(self, path: str | Path) -> Path:
        """Write the map to `path` (npz) atomically: a reader sees the old file or the new one, never half."""
        buf = io.BytesIO()
        np.savez(buf, **self.state_dict())
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path, cfg: MapConfig | None = None) -> 'VoxelMap':
        """Read a map saved by save(); cfg.voxel_size must match the file's."""
        with np.load(path) as f:
            state = {k: f[k] for k in f.files}
        return cls.from_state(state, cfg)

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], cfg: MapConfig | None = None) -> 'VoxelMap':
        """Rebuild a map (hash table and neighbour links included) from state_dict() output."""
        cfg = cfg or MapConfig(voxel_size=float(state['voxel_size']))
        if abs(float(state['voxel_size']) - cfg.voxel_size) > 1e-12:
            raise ValueError(f'map voxel_size {float(state["voxel_size"])} != configured {cfg.voxel_size}')
        n = len(state['key'])
        vmap = cls(cfg, capacity=max(1 << 15, int(n * 1.25)))
        slots = vmap._take_slots(n)
        vmap.key[slots] = state['key']
        for name in ('count', 'mean', 'label', 'label_votes', 'last_seen'):
            getattr(vmap, name)[slots] = state[name]
        for name in ('hits', 'misses'):  # maps saved before free-space evidence have none: every voxel counts as seen
            getattr(vmap, name)[slots] = state[name] if name in state else (1.0 if name == 'hits' else 0.0)
        vmap.alive[slots] = True
        vmap._hash.insert(state['key'], slots)
        vmap._link(slots)
        vmap.keyframes = int(state['keyframes'])
        return vmap
