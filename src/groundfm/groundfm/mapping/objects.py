"""3-D object instances from the voxel map's instance-label votes (ROS-free).

Each labelled voxel (label > 0; 0 is structure) belongs to an instance. Per instance: a yaw-oriented box from the
principal axis of its voxels' footprint (1st-99th percentile extents, so a few stray voxels do not inflate it), the
mean colour of its Gaussians (rendered appearance from the map, not the sim's metadata), and a class from the label
table. In sim, labels and the table are the sim's ground-truth segmentation (oracle semantics, flagged as such by the
table's `source`); a real robot needs a segmenter publishing the same two topics.
Instances seen again under another id (as a non-oracle segmenter would give) are merged when they share a class and
their boxes overlap; the merged instance keeps the smallest id, so ids stay stable across updates.
"""

from dataclasses import dataclass

import numpy as np

from groundfm.colors import name_color


@dataclass
class ObjectInstance:
    """One object: id, class, confidence [0, 1], colour (3,) in [0, 1], box centre (3,) [m], size (3,) [m], yaw."""

    id: int
    label: str
    confidence: float
    color: np.ndarray
    color_name: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    voxels: int


def _box(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Yaw-oriented box (centre (3,), size (3,), yaw) of points (n, 3)."""
    xy = points[:, :2]
    mu = np.average(xy, axis=0, weights=weights)
    if len(points) >= 3:
        cov = np.cov((xy - mu).T, aweights=weights)
        evals, evecs = np.linalg.eigh(cov)
        axis = evecs[:, 1]
        yaw = float(np.arctan2(axis[1], axis[0]))
    else:
        yaw = 0.0
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # a box is symmetric: keep yaw in [-pi/2, pi/2)
    c, s = np.cos(yaw), np.sin(yaw)
    local = (xy - mu) @ np.array([[c, -s], [s, c]])  # into the box axes
    lo = np.percentile(local, 1, axis=0)
    hi = np.percentile(local, 99, axis=0)
    zlo, zhi = np.percentile(points[:, 2], 1), np.percentile(points[:, 2], 99)
    mid = (lo + hi) / 2
    center_xy = mu + np.array([[c, -s], [s, c]]) @ mid
    return np.array([center_xy[0], center_xy[1], (zlo + zhi) / 2]), np.array([*(hi - lo), zhi - zlo]), yaw


def main_cluster(points: np.ndarray, weights: np.ndarray, cell: float = 0.1, gap_cells: int = 1) -> np.ndarray:
    """Indices of the points (n, 3) [m] in the heaviest connected footprint cluster.

    Points are binned into cell x cell floor cells; cells closer than gap_cells empty cells apart are connected. Votes
    that a wrong depth lifted away from the object form their own small clusters and are dropped.
    """
    from scipy import ndimage

    ij = np.floor(points[:, :2] / cell).astype(np.int64)
    ij -= ij.min(axis=0)
    shape = tuple(ij.max(axis=0) + 1)
    if shape[0] * shape[1] > 4_000_000:  # a degenerate spread: keep everything rather than allocate a huge grid
        return np.arange(len(points))
    occupied = np.zeros(shape, bool)
    occupied[ij[:, 0], ij[:, 1]] = True
    bridged = ndimage.binary_dilation(occupied, iterations=gap_cells) if gap_cells else occupied
    components, n = ndimage.label(bridged, structure=np.ones((3, 3), bool))
    if n <= 1:
        return np.arange(len(points))
    of_point = components[ij[:, 0], ij[:, 1]]
    mass = np.bincount(of_point, weights=weights, minlength=n + 1)
    return np.flatnonzero(of_point == int(np.argmax(mass[1:]) + 1))


def _overlap(a: ObjectInstance, b: ObjectInstance) -> bool:
    """Axis-aligned bounding boxes of the two (yaw-oriented) boxes intersect by more than a quarter of the smaller."""
    def aabb(o: ObjectInstance) -> tuple[np.ndarray, np.ndarray]:
        c, s = abs(np.cos(o.yaw)), abs(np.sin(o.yaw))
        half = np.array([c * o.size[0] + s * o.size[1], s * o.size[0] + c * o.size[1], o.size[2]]) / 2
        return o.center - half, o.center + half

    (alo, ahi), (blo, bhi) = aabb(a), aabb(b)
    inter = np.prod(np.clip(np.minimum(ahi, bhi) - np.maximum(alo, blo), 0, None))
    smaller = min(np.prod(ahi - alo), np.prod(bhi - blo))
    return smaller > 0 and inter > 0.25 * smaller


def extract_objects(centroids: np.ndarray, counts: np.ndarray, labels: np.ndarray, votes: np.ndarray,
                    colors: np.ndarray, label_table: dict[int, str], min_voxels: int = 10) -> list[ObjectInstance]:
    """Instances from per-voxel centroids (n, 3) [m], point counts (n,), labels (n,), label votes (n,), Gaussian
    colours (n, 3); label_table maps instance id -> class. Sorted by id."""
    found: list[tuple[ObjectInstance, np.ndarray]] = []
    for inst in np.unique(labels[labels > 0]):
        m = np.flatnonzero(labels == inst)
        if len(m) < min_voxels:
            continue
        found.append((_instance(int(inst), m, centroids, counts, votes, colors, label_table), m))
    # Merge instances of one class whose boxes overlap (the same object seen again under another id).
    merged: list[tuple[ObjectInstance, np.ndarray]] = []
    for obj, m in sorted(found, key=lambda t: t[0].id):
        for i, (other, om) in enumerate(merged):
            if other.label == obj.label and _overlap(other, obj):
                both = np.concatenate([om, m])
                merged[i] = (_instance(other.id, both, centroids, counts, votes, colors, label_table), both)
                break
        else:
            merged.append((obj, m))
    return [obj for obj, _ in merged]


def _instance(inst: int, m: np.ndarray, centroids: np.ndarray, counts: np.ndarray, votes: np.ndarray,
              colors: np.ndarray, label_table: dict[int, str]) -> ObjectInstance:
    m = m[main_cluster(centroids[m], np.maximum(counts[m], 1e-6))]
    w = np.maximum(counts[m], 1e-6)
    center, size, yaw = _box(centroids[m], w)
    color = np.average(colors[m], axis=0, weights=w)
    confidence = float(np.clip(votes[m].sum() / w.sum(), 0.0, 1.0))
    return ObjectInstance(inst, label_table.get(inst, 'unknown'), confidence, color, name_color(color), center, size,
                          yaw, len(m))
