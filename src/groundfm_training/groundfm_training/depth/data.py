"""Seeded stereo data engine: procedural FlyingThings-style scenes, MuJoCo sim houses, photometric augmentation.

Every sample is a rectified pair with exact left disparity [px] (NaN where unknown):
  (a) `sim_pairs`: the Go2 house sim (groundfm.sim) from random poses, camera heights, pitches, baselines, fields of
      view and light levels; disparity = fx * B / depth.
  (b) `FlyingScenes`: layers of textured shapes on slanted planes, rendered procedurally in both views. A plane in a
      rectified pair has a disparity affine in the pixel coordinates, d = a + b x + c y, so each layer is drawn in
      the right view by the inverse map x_l = (x_r + a + c y) / (1 - b) and the views are composited per pixel by
      z-buffer (largest disparity wins): exact sub-pixel ground truth, occlusions included, ~5 ms per pair.
  (c) `augment`: per-view colour jitter, gamma, blur and noise; the geometry stays exact.
Textures come from scikit-image's bundled images (never the Middlebury Motorcycle pair, which is benchmark data) and
procedural noise, checkers and stripes.
Seeds: sim houses for training are drawn from TRAIN_HOUSE_SEEDS; the benchmark's held-out houses (groundfm bench
depth, seeds < 1000) are never used here.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

TRAIN_HOUSE_SEEDS = range(1000, 100_000)  # benchmark houses are seeds < 1000
_SKIMAGE_TEXTURES = ('astronaut', 'brick', 'camera', 'cat', 'chelsea', 'clock', 'coffee', 'coins', 'colorwheel',
                     'grass', 'gravel', 'hubble_deep_field', 'immunohistochemistry', 'moon', 'page', 'retina',
                     'rocket', 'text', 'cell')


def load_texture_bank(max_side: int = 512) -> list[np.ndarray]:
    """scikit-image's bundled photos as (h, w, 3) uint8 textures; empty if scikit-image is missing."""
    try:
        import skimage.data as skdata
    except ImportError:  # scikit-image is optional at run time: procedural textures still work
        return []
    bank = []
    for name in _SKIMAGE_TEXTURES:
        try:
            img = np.asarray(getattr(skdata, name)())
        except Exception:  # some need an optional download; skip them
            continue
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3].astype(np.uint8)
        scale = max_side / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        bank.append(np.ascontiguousarray(img))
    return bank


@dataclass(frozen=True)
class FlyingConfig:
    """Knobs of the procedural scenes."""

    height: int = 160  # image height [px]
    width: int = 256  # image width [px]
    max_disparity: float = 64.0  # nearest layer's largest disparity [px]
    min_layers: int = 4  # foreground shapes per scene
    max_layers: int = 14
    flat_prob: float = 0.15  # chance a layer is untextured (teaches propagation)


def procedural_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multi-scale value noise, checkers or stripes in random colours, (h, w, 3) uint8."""
    kind = rng.integers(3)
    if kind == 0:
        img = np.zeros((h, w), np.float32)
        for octave in range(rng.integers(2, 6)):
            cells = 2 ** (octave + 2)
            noise = rng.random((max(2, h // cells + 2), max(2, w // cells + 2))).astype(np.float32)
            img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) / (1.6 ** octave)
        img = (img - img.min()) / (np.ptp(img) + 1e-6)
    elif kind == 1:
        period = rng.uniform(4, 40)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(np.float32)
    else:
        period, angle = rng.uniform(3, 30), rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = 0.5 + 0.5 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    c1, c2 = rng.random(3), rng.random(3)
    return (255 * (c1 + img[..., None] * (c2 - c1))).astype(np.uint8)


def _texture(rng: np.random.Generator, bank: list[np.ndarray], h: int, w: int) -> np.ndarray:
    """A random (h, w, 3) uint8 texture: a scaled, rotated, recoloured photo crop or a procedural pattern."""
    if not bank or rng.random() < 0.35:
        return procedural_texture(rng, h, w)
    src = bank[rng.integers(len(bank))]
    scale = rng.uniform(0.4, 2.0)
    angle = rng.uniform(-180, 180)
    cx, cy = rng.uniform(0, src.shape[1]), rng.uniform(0, src.shape[0])
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (w / 2 - cx, h / 2 - cy)
    tex = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:  # recolour: shuffle / scale channels
        tex = tex[..., rng.permutation(3)]
    gain = rng.uniform(0.6, 1.3, 3)
    return np.clip(tex.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _shape_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random filled ellipse, polygon or rectangle as an (h, w) float32 alpha mask (anti-aliased)."""
    mask = np.zeros((h * 2, w * 2), np.uint8)  # drawn at 2x, then area-downsampled: soft edges
    cx, cy = rng.uniform(0, 2 * w), rng.uniform(0, 2 * h)
    size = rng.uniform(0.08, 0.5) * 2 * min(h, w) * rng.uniform(0.6, 1.6)
    kind = rng.integers(3)
    if kind == 0:
        axes = (int(size * rng.uniform(0.3, 1.0)), int(size * rng.uniform(0.3, 1.0)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 255, -1)
    elif kind == 1:
        n = rng.integers(3, 9)
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = size * rng.uniform(0.3, 1.0, n)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255)
    else:
        wh = (size * rng.uniform(0.4, 1.5), size * rng.uniform(0.1, 1.0))
        box = cv2.boxPoints(((cx, cy), wh, rng.uniform(0, 180))).astype(np.int32)
        cv2.fillPoly(mask, [box], 255)
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


class FlyingScenes:
    """Procedural textured layers on slanted planes, rendered exactly in both views; seeded."""

    def __init__(self, cfg: FlyingConfig, bank: list[np.ndarray] | None = None) -> None:
        self.cfg = cfg
        self.bank = load_texture_bank() if bank is None else bank

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """left, right (h, w, 3) uint8 and left disparity (h, w) float32 [px]."""
        h, w, cfg = self.cfg.height, self.cfg.width, self.cfg
        pad = int(cfg.max_disparity) + 8  # layers extend past the left border so the right view is filled
        ww = w + pad
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        # Background plane + layers; disparity grows with layer index (far to near), with random overlap.
        d_max = cfg.max_disparity * rng.uniform(0.3, 1.0)
        n = int(rng.integers(cfg.min_layers, cfg.max_layers + 1))
        layers = [(None, rng.uniform(0.0, 0.15) * d_max)]
        layers += [(1, v) for v in np.sort(rng.uniform(0.05, 1.0, n)) * d_max]
        views = [(np.zeros((h, w, 3), np.float32), np.full((h, w), -np.inf, np.float32)) for _ in range(2)]
        disp_left = None
        layer_rng_state = rng.integers(2**63)
        for view_index, (img, zbuf) in enumerate(views):
            lrng = np.random.default_rng(layer_rng_state)  # same layers for both views
            for shape, a in layers:
                slant_b = lrng.uniform(-0.15, 0.15) * (a / max(w, 1)) * 2
                slant_c = lrng.uniform(-0.3, 0.3) * (a / max(h, 1))
                tex = _texture(lrng, self.bank, h, ww) if lrng.random() > cfg.flat_prob else \
                    np.full((h, ww, 3), lrng.integers(0, 256, 3), np.uint8)
                alpha = np.ones((h, ww), np.float32) if shape is None else _shape_mask(lrng, h, ww)
                # Layer coordinates = left image coordinates shifted by `pad` (so x_l in [-pad, w)).
                if view_index == 0:
                    map_x = xs
                else:
                    map_x = (xs + a + slant_c * ys) / (1 - slant_b)
                disp = (a + slant_b * map_x + slant_c * ys).astype(np.float32)
                mx = (map_x + pad).astype(np.float32)
                tex_v = cv2.remap(tex, mx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
                alpha_v = cv2.remap(alpha, mx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                cover = (alpha_v > 0.5) & (disp > zbuf) if shape is not None else np.ones_like(zbuf, bool)
                img[cover] = tex_v[cover]
                zbuf[cover] = disp[cover]
            if view_index == 0:
                disp_left = zbuf.copy()
        left = np.clip(views[0][0], 0, 255).astype(np.uint8)
        right = np.clip(views[1][0], 0, 255).astype(np.uint8)
        return left, right, disp_left.astype(np.float32)


def augment(rng: np.random.Generator, left: np.ndarray, right: np.ndarray,
            asymmetric: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Photometric jitter (uint8 in, uint8 out): shared brightness/contrast/gamma/hue, plus per-view differences."""
    def jitter(img: np.ndarray, p: dict) -> np.ndarray:
        x = img.astype(np.float32) / 255
        x = x * p['gain'] + p['bias']
        mean = x.mean(axis=2, keepdims=True)
        x = mean + (x - mean) * p['sat']
        x = np.clip(x, 0, 1) ** p['gamma']
        if p['blur'] > 0:
            x = cv2.GaussianBlur(x, (0, 0), p['blur'])
        x = x + p['noise'] * rng.standard_normal(x.shape).astype(np.float32)
        return (np.clip(x, 0, 1) * 255).astype(np.uint8)

    base = {'gain': rng.uniform(0.6, 1.4) * rng.uniform(0.9, 1.1, 3), 'bias': rng.uniform(-0.1, 0.1),
            'sat': rng.uniform(0.5, 1.4), 'gamma': rng.uniform(0.7, 1.4),
            'blur': rng.uniform(0.3, 1.0) if rng.random() < 0.2 else 0.0, 'noise': rng.uniform(0, 0.02)}
    out = []
    for img in (left, right):
        p = dict(base)
        if rng.random() < asymmetric:
            p['gain'] = p['gain'] * rng.uniform(0.85, 1.15, 3)
            p['gamma'] = p['gamma'] * rng.uniform(0.9, 1.1)
        out.append(jitter(img, p))
    return out[0], out[1]


@dataclass(frozen=True)
class SimPairsConfig:
    """How sim house pairs are drawn."""

    width: int = 320
    height: int = 240
    views_per_house: int = 12
    baseline_range_m: tuple[float, float] = (0.06, 0.20)
    fovy_range_deg: tuple[float, float] = (55.0, 85.0)
    pitch_range_deg: tuple[float, float] = (-5.0, 30.0)
    height_range_m: tuple[float, float] = (0.2, 0.7)  # camera body height above the floor
    light_range: tuple[float, float] = (0.4, 1.6)  # scale on the house lights and headlight
    min_valid: float = 0.9  # reject views with fewer valid depth pixels (inside a wall)
    min_depth_m: float = 0.12  # reject views with anything closer (clipping into furniture)


@dataclass
class StereoSample:
    """One rectified pair with exact left disparity and its camera."""

    left: np.ndarray  # (h, w, 3) uint8
    right: np.ndarray  # (h, w, 3) uint8
    disparity: np.ndarray  # (h, w) float32 [px], NaN unknown
    fx: float  # [px]
    baseline: float  # [m]


def sim_pairs(house_seeds: list[int], cfg: SimPairsConfig, seed: int) -> Iterator[StereoSample]:
    """Render views_per_house random views of each house seed (random baseline, fov, pitch, height, light)."""
    from groundfm.sim.config import SimConfig
    from groundfm.sim.house import generate_house
    from groundfm.sim.world import SimWorld

    rng = np.random.default_rng(seed)
    for house_seed in house_seeds:
        house = generate_house(int(house_seed))
        sim_cfg = SimConfig(scene_seed=int(house_seed), image_width=cfg.width, image_height=cfg.height,
                            stereo_baseline_m=float(rng.uniform(*cfg.baseline_range_m)),
                            camera_fovy_deg=float(rng.uniform(*cfg.fovy_range_deg)),
                            camera_pitch_deg=float(rng.uniform(*cfg.pitch_range_deg)))
        world = SimWorld(house, sim_cfg)
        light0 = world.model.light_diffuse.copy()
        head0 = (world.model.vis.headlight.ambient.copy(), world.model.vis.headlight.diffuse.copy())
        cam = world.camera_model
        x0, y0, x1, y1 = house.bounds
        made, tries = 0, 0
        try:
            while made < cfg.views_per_house and tries < 20 * cfg.views_per_house:
                tries += 1
                world.reset(spawn=(float(rng.uniform(x0 + 0.3, x1 - 0.3)), float(rng.uniform(y0 + 0.3, y1 - 0.3)),
                                   float(rng.uniform(-math.pi, math.pi))))
                world.data.qpos[2] = rng.uniform(*cfg.height_range_m) - 0.06  # camera sits 6 cm above base
                scale = rng.uniform(*cfg.light_range)
                world.model.light_diffuse[:] = np.clip(light0 * scale, 0, 1)
                world.model.vis.headlight.ambient[:] = np.clip(head0[0] * rng.uniform(*cfg.light_range), 0, 1)
                world.model.vis.headlight.diffuse[:] = np.clip(head0[1] * scale, 0, 1)
                import mujoco

                mujoco.mj_forward(world.model, world.data)
                frame = world.render_stereo()
                valid = np.isfinite(frame.depth)
                if valid.mean() < cfg.min_valid or np.nanmin(frame.depth) < cfg.min_depth_m:
                    continue
                disparity = (cam.fx * cam.baseline / frame.depth).astype(np.float32)
                made += 1
                yield StereoSample(frame.left, frame.right, disparity, cam.fx, cam.baseline)
        finally:
            world.close()


def build_sim_cache(path: str, house_seeds: list[int], cfg: SimPairsConfig, seed: int) -> int:
    """Render sim pairs into a compressed .npz (left, right uint8; disparity float16); returns the pair count."""
    from groundfm.io import atomic_write_bytes

    lefts, rights, disps, fxs, baselines = [], [], [], [], []
    for s in sim_pairs(house_seeds, cfg, seed):
        lefts.append(s.left)
        rights.append(s.right)
        disps.append(s.disparity.astype(np.float16))
        fxs.append(s.fx)
        baselines.append(s.baseline)
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, left=np.stack(lefts), right=np.stack(rights), disparity=np.stack(disps), fx=np.array(fxs),
                        baseline=np.array(baselines), house_seeds=np.array(house_seeds))  # ~1/3 the size
    atomic_write_bytes(path, buf.getvalue())
    return len(lefts)


def random_crop(rng: np.random.Generator, left: np.ndarray, right: np.ndarray, disparity: np.ndarray,
                h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same random (h, w) window of both views and the disparity (inputs at least that large)."""
    y = int(rng.integers(0, left.shape[0] - h + 1))
    x = int(rng.integers(0, left.shape[1] - w + 1))
    return left[y:y + h, x:x + w], right[y:y + h, x:x + w], disparity[y:y + h, x:x + w]
