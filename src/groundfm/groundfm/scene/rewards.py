"""Verifiable rewards of 3D-R1 (arXiv 2507.23478), implemented once: QA benchmark now, GRPO training later. No ROS.

- format: 1 when the output is exactly `<think>...</think><answer>...</answer>` (surrounding whitespace allowed);
- perception: 3-D IoU of the grounded box and the ground-truth box (axis-aligned or yaw-oriented in the floor plane);
- semantic: cosine similarity of MiniLM sentence embeddings of the answer and the reference answer;
- GRPO advantage: (r - mean) / std within a group of sampled outputs for one prompt.
Boxes are in the map frame: centre (x, y, z) [m], full size along the box axes (x, y, z) [m], yaw about +z [rad].
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

FORMAT_RE = re.compile(r'^\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*$', re.DOTALL)


@dataclass(frozen=True)
class Box3D:
    """A box standing upright: centre (3,) [m], full size (3,) along its own axes [m], yaw about +z [rad]."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float = 0.0

    def __post_init__(self) -> None:
        if len(self.center) != 3 or len(self.size) != 3:
            raise ValueError(f'Box3D needs 3 centre and 3 size values, got {self.center} and {self.size}')
        if not all(math.isfinite(v) for v in (*self.center, *self.size, self.yaw)):
            raise ValueError(f'Box3D values must be finite, got {self}')
        if min(self.size) < 0:
            raise ValueError(f'Box3D.size must be >= 0, got {self.size}')

    @property
    def volume(self) -> float:
        """Volume [m^3]."""
        return float(self.size[0] * self.size[1] * self.size[2])

    def footprint(self) -> np.ndarray:
        """Floor-plane corners (4, 2) [m], counter-clockwise."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        half = np.array([[1, -1], [1, 1], [-1, 1], [-1, -1]], float) * np.asarray(self.size[:2], float) / 2
        rot = np.array([[c, -s], [s, c]])
        return half @ rot.T + np.asarray(self.center[:2], float)

    def z_range(self) -> tuple[float, float]:
        """Bottom and top height [m]."""
        return self.center[2] - self.size[2] / 2, self.center[2] + self.size[2] / 2

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (min (3,), max (3,)) of the (rotated) box [m]."""
        corners = self.footprint()
        z0, z1 = self.z_range()
        return np.array([*corners.min(0), z0]), np.array([*corners.max(0), z1])

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points (n, 3) [m] lie inside the box, bool (n,)."""
        p = np.atleast_2d(np.asarray(points, float)) - np.asarray(self.center, float)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        local = np.stack([c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1], p[:, 2]], 1)
        return np.all(np.abs(local) <= np.asarray(self.size, float) / 2 + 1e-12, axis=1)


def polygon_area(poly: np.ndarray) -> float:
    """Area of a simple polygon (n, 2) [m^2] (shoelace)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Intersection of two convex counter-clockwise polygons (n, 2), (m, 2) -> (k, 2) (Sutherland-Hodgman)."""
    out = [tuple(p) for p in subject]
    for i in range(len(clip)):
        a, b = clip[i], clip[(i + 1) % len(clip)]
        inp, out = out, []
        if not inp:
            break
        edge = b - a

        def inside(p, a=a, edge=edge) -> bool:
            return edge[0] * (p[1] - a[1]) - edge[1] * (p[0] - a[0]) >= -1e-12

        for j in range(len(inp)):
            cur, prev = np.asarray(inp[j]), np.asarray(inp[j - 1])
            if inside(cur):
                if not inside(prev):
                    out.append(_line_cross(prev, cur, a, b))
                out.append(tuple(cur))
            elif inside(prev):
                out.append(_line_cross(prev, cur, a, b))
    return np.asarray(out, float).reshape(-1, 2)


def _line_cross(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Where segment p-q crosses the line through a, b."""
    d1, d2 = q - p, b - a
    denom = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(denom) < 1e-15:
        return tuple(q)
    t = ((a[0] - p[0]) * d2[1] - (a[1] - p[1]) * d2[0]) / denom
    return tuple(p + t * d1)


def box_iou(a: Box3D, b: Box3D) -> float:
    """3-D IoU in [0, 1] of two upright boxes: footprint-polygon intersection x height overlap / union volume."""
    za, zb = a.z_range(), b.z_range()
    dz = min(za[1], zb[1]) - max(za[0], zb[0])
    if dz <= 0:
        return 0.0
    if abs(math.remainder(a.yaw - b.yaw, math.pi / 2)) < 1e-9:  # aligned axes: the axis-aligned fast path
        al, ah = _aligned_bounds(a, b.yaw)
        bl, bh = _aligned_bounds(b, b.yaw)
        area = float(np.prod(np.clip(np.minimum(ah, bh) - np.maximum(al, bl), 0, None)))
    else:
        area = polygon_area(clip_convex(a.footprint(), b.footprint()))
    inter = area * dz
    union = a.volume + b.volume - inter
    return float(inter / union) if union > 0 else 0.0


def _aligned_bounds(box: Box3D, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Footprint bounds (min (2,), max (2,)) of box in a frame rotated by yaw, valid when the axes are aligned."""
    c, s = math.cos(yaw), math.sin(yaw)
    corners = box.footprint() @ np.array([[c, -s], [s, c]])
    return corners.min(0), corners.max(0)


def reference_box_iou(a: Box3D, b: Box3D, samples: int = 200_000, seed: int = 0) -> float:
    """Slow Monte-Carlo twin of box_iou (tests): uniform points in the joint bounds, seeded."""
    lo = np.minimum(a.aabb()[0], b.aabb()[0])
    hi = np.maximum(a.aabb()[1], b.aabb()[1])
    pts = np.random.default_rng(seed).uniform(lo, hi, size=(samples, 3))
    ina, inb = a.contains(pts), b.contains(pts)
    union = np.count_nonzero(ina | inb)
    return float(np.count_nonzero(ina & inb) / union) if union else 0.0


def format_reward(text: str) -> float:
    """1.0 when text is exactly `<think>...</think><answer>...</answer>` with non-empty parts, else 0.0."""
    m = FORMAT_RE.match(text or '')
    return float(bool(m and m.group('think').strip() and m.group('answer').strip()
                      and '<think>' not in m.group('answer') and '<answer>' not in m.group('think')))


def perception_reward(predicted: Sequence[Box3D], target: Box3D | None) -> float:
    """IoU of the first predicted box with the target box; 0 when either is missing (1 when both are absent)."""
    if target is None:
        return 1.0 if not predicted else 0.0
    return box_iou(predicted[0], target) if predicted else 0.0


class TextEmbedder(Protocol):
    """Anything that turns sentences into unit-norm vectors (n, d)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def semantic_reward(answer: str, reference: str, embedder: TextEmbedder | None = None) -> float:
    """Cosine similarity in [-1, 1] of the MiniLM embeddings of answer and reference (empty answer -> 0)."""
    if not answer.strip() or not reference.strip():
        return 0.0
    if embedder is None:
        from groundfm.scene.grounding import default_encoder
        embedder = default_encoder()
    e = np.asarray(embedder.encode([answer, reference]), float)
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return float(e[0] @ e[1])


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the three rewards in the total used for GRPO (3D-R1 sums them)."""

    format: float = 1.0
    perception: float = 1.0
    semantic: float = 1.0


def total_reward(output: str, answer: str, reference: str, predicted: Sequence[Box3D], target: Box3D | None,
                 weights: RewardWeights = RewardWeights(), embedder: TextEmbedder | None = None) -> float:
    """Weighted sum of format, perception and semantic rewards of one sampled output."""
    return (weights.format * format_reward(output) + weights.perception * perception_reward(predicted, target)
            + weights.semantic * semantic_reward(answer, reference, embedder))


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    """GRPO advantages (g,): (r - mean) / (std + eps) within one prompt's group of sampled outputs."""
    r = np.asarray(rewards, float)
    if r.ndim != 1 or len(r) == 0:
        raise ValueError(f'rewards must be a non-empty 1-D sequence, got shape {r.shape}')
    return (r - r.mean()) / (r.std() + eps)
