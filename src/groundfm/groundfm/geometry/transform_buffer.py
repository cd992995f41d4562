"""A time-indexed transform tree with tf2 semantics, ROS-free (tf2_ros is not on PyPI).

`lookup(target, source, t)` returns T_target_source: it maps points given in `source` into `target`. Dynamic edges keep
a history (`cache_s`) and are interpolated (linear translation, slerp rotation); static edges hold for all time.
`t=None` asks for the latest time at which the whole chain is known, as tf2's TimePointZero does.
"""

import bisect
from dataclasses import dataclass, field

import numpy as np

from groundfm.geometry.rotations import quat_conjugate, quat_multiply, quat_slerp, quat_to_matrix, rotate


class TransformError(LookupError):
    """A transform cannot be looked up: unknown or unconnected frames, or a time outside the buffer."""


@dataclass(frozen=True)
class Transform:
    """A rigid transform: translation (3,) [m] and rotation (x, y, z, w)."""

    translation: np.ndarray
    rotation: np.ndarray

    def compose(self, other: 'Transform') -> 'Transform':
        """self * other: apply `other` first, then `self`."""
        return Transform(self.translation + rotate(self.rotation, other.translation),
                         quat_multiply(self.rotation, other.rotation))

    def inverse(self) -> 'Transform':
        """The inverse transform."""
        inv = quat_conjugate(self.rotation)
        return Transform(-rotate(inv, self.translation), inv)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points (..., 3)."""
        return rotate(self.rotation, points) + self.translation

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = quat_to_matrix(self.rotation)
        m[:3, 3] = self.translation
        return m


IDENTITY = Transform(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))


@dataclass
class _Edge:
    parent: str
    static: bool
    stamps: list[float] = field(default_factory=list)
    transforms: list[Transform] = field(default_factory=list)


class TransformBuffer:
    """Parent/child transforms over time; each child frame has one parent (a tree)."""

    def __init__(self, cache_s: float = 10.0) -> None:
        self.cache_s = cache_s
        self._edges: dict[str, _Edge] = {}

    def set_transform(self, parent: str, child: str, stamp: float, transform: Transform, static: bool = False) -> None:
        """Insert parent -> child at `stamp` [s]; a static transform replaces any earlier one."""
        if not parent or not child or parent == child:
            raise ValueError(f'bad frame pair {parent!r} -> {child!r}')
        if not (np.all(np.isfinite(transform.translation)) and np.all(np.isfinite(transform.rotation))):
            raise ValueError(f'non-finite transform {parent} -> {child}')
        norm = np.linalg.norm(transform.rotation)
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f'rotation {parent} -> {child} is not a unit quaternion (norm {norm:.4f})')
        edge = self._edges.get(child)
        if edge is None or edge.static != static or edge.parent != parent:
            edge = self._edges[child] = _Edge(parent, static)
        transform = Transform(transform.translation, transform.rotation / norm)
        if static:
            edge.stamps, edge.transforms = [stamp], [transform]
            return
        i = bisect.bisect_left(edge.stamps, stamp)
        if i < len(edge.stamps) and edge.stamps[i] == stamp:
            edge.transforms[i] = transform
        else:
            edge.stamps.insert(i, stamp)
            edge.transforms.insert(i, transform)
        cut = bisect.bisect_left(edge.stamps, edge.stamps[-1] - self.cache_s)
        del edge.stamps[:cut], edge.transforms[:cut]

    def frames(self) -> dict[str, str]:
        """child -> parent for every known frame."""
        return {child: edge.parent for child, edge in self._edges.items()}

    def latest_stamp(self, child: str) -> float:
        """Stamp of the newest transform into `child` (static edges: the time they were set)."""
        if child not in self._edges:
            raise TransformError(f'frame {child!r} does not exist; known: {sorted(self._known())}')
        return self._edges[child].stamps[-1]

    def lookup(self, target: str, source: str, t: float | None = None, tolerance_s: float = 0.0) -> Transform:
        """T_target_source at time t [s] (None: the latest common time); raise TransformError if impossible."""
        up_source, up_target = self._path_to_root(source), self._path_to_root(target)
        if up_source[-1] != up_target[-1]:
            raise TransformError(f'frames {source!r} and {target!r} are not connected')
        common = next(f for f in up_source if f in set(up_target))
        chain_s = up_source[: up_source.index(common)]
        chain_t = up_target[: up_target.index(common)]
        if t is None:
            dynamic = [self._edges[c].stamps[-1] for c in chain_s + chain_t if not self._edges[c].static]
            t = min(dynamic) if dynamic else 0.0
        source_in_common = IDENTITY
        for child in chain_s:  # child -> ... -> common
            source_in_common = self._edge_at(child, t, tolerance_s).compose(source_in_common)
        target_in_common = IDENTITY
        for child in chain_t:
            target_in_common = self._edge_at(child, t, tolerance_s).compose(target_in_common)
        return target_in_common.inverse().compose(source_in_common)

    def _known(self) -> set[str]:
        return set(self._edges) | {e.parent for e in self._edges.values()}

    def _path_to_root(self, frame: str) -> list[str]:
        if frame not in self._known():
            raise TransformError(f'frame {frame!r} does not exist; known: {sorted(self._known())}')
        path = [frame]
        while path[-1] in self._edges:
            path.append(self._edges[path[-1]].parent)
            if len(path) > 64:
                raise TransformError(f'loop in the transform tree at {frame!r}')
        return path

    def _edge_at(self, child: str, t: float, tolerance_s: float) -> Transform:
        edge = self._edges[child]
        if edge.static:
            return edge.transforms[0]
        stamps = edge.stamps
        if t < stamps[0] - tolerance_s or t > stamps[-1] + tolerance_s:
            raise TransformError(
                f'{edge.parent} -> {child} at t={t:.3f} s is outside the buffer [{stamps[0]:.3f}, {stamps[-1]:.3f}] s'
            )
        i = bisect.bisect_left(stamps, t)
        if i == 0:
            return edge.transforms[0]
        if i >= len(stamps):
            return edge.transforms[-1]
        t0, t1 = stamps[i - 1], stamps[i]
        a, b = edge.transforms[i - 1], edge.transforms[i]
        w = (t - t0) / (t1 - t0)
        return Transform((1 - w) * a.translation + w * b.translation, quat_slerp(a.rotation, b.rotation, w))
