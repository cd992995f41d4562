"""MuJoCo world: the Go2 in a generated house, per-motor PD at the physics rate, and a rendered stereo head camera.

Frames: the world frame is the house's map frame (x, y on the floor, z up). base_link is the Go2 'base' body.
camera_link sits on the head, REP-103 (x forward, y left, z up), pitched down by SimConfig.camera_pitch_deg; the left
and right optical centres are at camera_link +-(0, baseline/2, 0), optical frames x right, y down, z forward.
Images are rows top-down; depth is planar z in metres (NaN for no hit); instances hold SceneObject.id, 0 for walls and
floors, -1 for no hit. Geom groups: 0 house, 2 robot visual meshes (hidden from the head camera), 3 collision-only.
"""

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # after MUJOCO_GL is set: it picks the GL backend at import
import numpy as np

from groundfm.sim import go2
from groundfm.sim.config import SimConfig
from groundfm.sim.house import House, Surface

CAMERA_LINK_XYZ = (0.30, 0.0, 0.06)  # base_link -> camera_link [m], in front of and above the head
DAMPING_KD = 2.0  # damping mode: tau = -DAMPING_KD * dq [Nm s/rad]
_EXTENT = 10.0  # model statistic extent [m]; znear/zfar below are fractions of it
_ZNEAR, _ZFAR = 0.002, 5.0  # -> clip planes at 0.02 m and 50 m
_FLOOR_FRICTION = '1.0 0.005 0.0001'
_CAMS = ('stereo_left', 'stereo_right')


@dataclass
class MotorCommand:
    """Per-joint targets and gains, each shape (12,) in JOINT_NAMES order: tau = kp (q - q_m) + kd (dq - dq_m) + tau."""

    q: np.ndarray  # [rad]
    dq: np.ndarray  # [rad/s]
    kp: np.ndarray  # [Nm/rad]
    kd: np.ndarray  # [Nm s/rad]
    tau: np.ndarray  # feed-forward [Nm]


@dataclass
class BaseState:
    """Trunk pose in the map frame and its twist in the base frame."""

    position: np.ndarray  # (3,) [m]
    orientation_xyzw: np.ndarray  # (4,) unit quaternion, ROS order
    linear_velocity: np.ndarray  # (3,) base frame [m/s]
    angular_velocity: np.ndarray  # (3,) base frame [rad/s]


@dataclass
class StereoFrame:
    """One rendered stereo pair with the left camera's ground truth; images are rows top-down."""

    left: np.ndarray  # (H, W, 3) uint8 RGB
    right: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 planar z of the left camera [m], NaN for no hit
    instances: np.ndarray  # (H, W) int32 SceneObject.id, 0 structure, -1 no hit
    stamp: float  # sim time [s]


@dataclass(frozen=True)
class StereoCameraModel:
    """Ideal rectified pinhole pair: identical intrinsics [px], baseline [m], no distortion."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    baseline: float

    def k(self) -> np.ndarray:
        """Intrinsic matrix, shape (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def _fmt(values) -> str:
    return ' '.join(f'{float(v):.6g}' for v in np.atleast_1d(values))


def _quat_wxyz(mat: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(mat, dtype=float).ravel())
    return quat


def _pitch_matrix(pitch: float) -> np.ndarray:
    """Rotation about +y by pitch [rad]: positive tilts +x downwards."""
    c, s = math.cos(pitch), math.sin(pitch)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# MuJoCo camera axes (x right, y up, looking along -z) written in camera_link axes (x forward, y left, z up).
_LINK_FROM_MJCAM = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def go2_mjcf(cfg: SimConfig) -> ET.Element:
    """The Go2 MJCF root with the stereo cameras on its base, absolute meshdir, and cfg's timestep and meshes."""
    root = ET.parse(go2.mjcf_path()).getroot()
    root.find('compiler').set('meshdir', str(go2.mjcf_path().parent / 'assets'))
    root.find('option').set('timestep', f'{cfg.physics_dt:.6g}')
    if not cfg.robot_meshes:  # visual meshes only: collision geoms are primitives, so physics is unchanged
        for parent in root.iter():
            for child in [c for c in parent if c.tag == 'geom' and c.get('class') == 'visual']:
                parent.remove(child)
        asset = root.find('asset')
        for mesh in asset.findall('mesh'):
            asset.remove(mesh)
    base = root.find(f".//body[@name='{go2.BASE_BODY}']")
    rot = _pitch_matrix(math.radians(cfg.camera_pitch_deg))
    quat = _quat_wxyz(rot @ _LINK_FROM_MJCAM)
    for name, side in zip(_CAMS, (1.0, -1.0), strict=True):
        pos = np.asarray(CAMERA_LINK_XYZ) + rot @ np.array([0.0, side * cfg.stereo_baseline_m / 2, 0.0])
        ET.SubElement(base, 'camera', name=name, pos=_fmt(pos), quat=_fmt(quat), fovy=f'{cfg.camera_fovy_deg:.6g}')
    return root


def _texture(asset: ET.Element, name: str, s: Surface, uniform: bool) -> None:
    """A builtin 2D texture with speckle and a matte material; uniform tiles a plane every s.tile_m metres."""
    ET.SubElement(asset, 'texture', name=name, type='2d', builtin=s.pattern, rgb1=_fmt(s.rgb1), rgb2=_fmt(s.rgb2),
                  mark='random', random=f'{s.random:.4g}', markrgb=_fmt(s.mark_rgb), width='128', height='128')
    ET.SubElement(asset, 'material', name=name, texture=name, texuniform=str(uniform).lower(),
                  texrepeat=_fmt([1 / s.tile_m if uniform else 1.0] * 2), specular='0', shininess='0',
                  reflectance='0')


def box_mesh(size, tile_m: float) -> dict[str, str]:
    """MJCF attributes of a box mesh of full size (x, y, z) [m], 4 vertices per face, UVs in tiles of tile_m [m]."""
    half = np.asarray(size, float) / 2
    vertices, texcoords, faces = [], [], []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3  # e_u x e_v = e_axis
        for sign in (1.0, -1.0):
            corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)][::int(sign)]  # counter-clockwise seen from outside
            for cu, cv in corners:
                p = np.zeros(3)
                p[axis], p[u], p[v] = sign * half[axis], cu * half[u], cv * half[v]
                vertices.append(p)
                texcoords.append((p[u] / tile_m, p[v] / tile_m))
            k = len(vertices) - 4
            faces += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
    return {'vertex': _fmt(np.ravel(vertices)), 'texcoord': _fmt(np.ravel(texcoords)), 'face': _fmt(np.ravel(faces))}


def _textured_box(asset: ET.Element, world: ET.Element, name: str, surface: Surface, size, pos, yaw: float) -> None:
    """A collision box (group 3) and its textured visual twin (group 0, a mesh: boxes get no usable UVs)."""
    _texture(asset, name, surface, uniform=False)
    ET.SubElement(asset, 'mesh', name=name, **box_mesh(size, surface.tile_m))
    frame = {'pos': _fmt(pos), 'euler': _fmt([0.0, 0.0, yaw])}
    ET.SubElement(world, 'geom', name=f'{name}_collision', type='box', size=_fmt(np.asarray(size) / 2), group='3',
                  **frame)
    ET.SubElement(world, 'geom', name=name, type='mesh', mesh=name, material=name, contype='0', conaffinity='0',
                  group='0', **frame)


def object_surface(rgb: tuple[float, float, float], object_id: int) -> Surface:
    """Furniture look: its own colour with darker speckle, pattern and tiling varied by object id."""
    base = np.asarray(rgb)
    mark = np.clip(base * 0.5 if base.mean() > 0.3 else base + 0.25, 0, 1)
    pattern = ('flat', 'gradient', 'checker')[object_id % 3]
    second = tuple(np.clip(base * 0.8, 0, 1))
    return Surface(pattern, tuple(base), second, tuple(mark), 0.3, 0.25 + 0.1 * (object_id % 4))


def house_mjcf(house: House, cfg: SimConfig) -> str:
    """The complete scene MJCF: Go2 with cameras, spawned at house.spawn, plus floors, walls, furniture and lights."""
    root = go2_mjcf(cfg)
    visual = ET.SubElement(root, 'visual')
    ET.SubElement(visual, 'global', offwidth=str(cfg.image_width), offheight=str(cfg.image_height))
    ET.SubElement(visual, 'headlight', ambient='0.35 0.35 0.35', diffuse='0.15 0.15 0.15', specular='0 0 0')
    ET.SubElement(visual, 'map', znear=str(_ZNEAR), zfar=str(_ZFAR))
    ET.SubElement(visual, 'quality', shadowsize='0')
    ET.SubElement(root, 'statistic', extent=str(_EXTENT), center=_fmt([*np.mean(np.reshape(house.bounds, (2, 2)), 0),
                                                                        1.0]))
    asset, world = root.find('asset'), root.find('worldbody')
    ET.SubElement(world, 'light', name='sun', type='directional', dir='0.3 0.2 -1', diffuse='0.55 0.55 0.55',
                  specular='0 0 0', castshadow='false')
    ET.SubElement(world, 'light', name='fill', type='directional', dir='-0.4 -0.3 -0.6', diffuse='0.25 0.25 0.25',
                  specular='0 0 0', castshadow='false')
    ET.SubElement(world, 'geom', name='floor', type='plane', size='0 0 0.05', friction=_FLOOR_FRICTION, group='3')
    for i, (room, surface) in enumerate(zip(house.rooms, house.floor_surfaces, strict=True)):
        _texture(asset, f'floor_{i}', surface, uniform=True)
        half = ((room.x_max - room.x_min) / 2, (room.y_max - room.y_min) / 2)
        ET.SubElement(world, 'geom', name=f'floor_{room.name}', type='plane', material=f'floor_{i}',
                      size=_fmt([*half, 0.05]), pos=_fmt([room.x_min + half[0], room.y_min + half[1], 0.0]),
                      contype='0', conaffinity='0', group='0')
    for i, wall in enumerate(house.walls):
        (x0, y0), (x1, y1) = wall.start, wall.end
        _textured_box(asset, world, f'wall_{i}', house.wall_surface,
                      (math.hypot(x1 - x0, y1 - y0), wall.thickness, wall.height),
                      ((x0 + x1) / 2, (y0 + y1) / 2, wall.height / 2), math.atan2(y1 - y0, x1 - x0))
    for obj in house.objects:
        _textured_box(asset, world, f'obj_{obj.id}', object_surface(obj.rgb, obj.id), obj.size, obj.center, obj.yaw)
    # Spawn standing on the home keyframe joints with the feet just above the floor.
    x, y, yaw = house.spawn
    z = go2.FOOT_RADIUS + (go2.THIGH_LENGTH + go2.CALF_LENGTH) * math.cos(0.9) + 0.01
    key = root.find("keyframe/key[@name='home']")
    key.set('qpos', _fmt([x, y, z, math.cos(yaw / 2), 0, 0, math.sin(yaw / 2), *go2.HOME_JOINT_POSITIONS]))
    key.attrib.pop('ctrl', None)
    return ET.tostring(root, encoding='unicode')


class _StereoRenderer:
    """Offscreen EGL renderer for the two head cameras: RGB left, segmentation + depth left, RGB right."""

    def __init__(self, model: mujoco.MjModel, width: int, height: int, instance_of_geom: np.ndarray) -> None:
        self._model, self._width, self._height = model, width, height
        self._gl = mujoco.GLContext(width, height)
        self._gl.make_current()
        self._con = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._con.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR  # reversed z: 0 at the far plane
        self._scene = mujoco.MjvScene(model, maxgeom=2 * model.ngeom + 100)
        for flag in ('mjRND_SHADOW', 'mjRND_REFLECTION', 'mjRND_SKYBOX', 'mjRND_FOG', 'mjRND_HAZE'):
            self._scene.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        self._opt = mujoco.MjvOption()
        self._opt.geomgroup[:] = 0
        self._opt.geomgroup[0] = 1  # house only: the robot's own meshes (group 2) would cost half the frame
        self._opt.sitegroup[:] = 0
        self._cams = []
        for name in _CAMS:
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
            cam.fixedcamid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            self._cams.append(cam)
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._instance_of_geom = instance_of_geom
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._zbuf = np.empty((height, width), np.float32)
        extent = model.stat.extent
        self._near, self._far = model.vis.map.znear * extent, model.vis.map.zfar * extent

    def _draw(self, out_rgb: np.ndarray, out_depth: np.ndarray | None) -> np.ndarray:
        mujoco.mjr_render(self._rect, self._scene, self._con)
        mujoco.mjr_readPixels(out_rgb, out_depth, self._rect, self._con)
        return out_rgb[::-1].copy()  # OpenGL rows are bottom-up

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Left RGB, right RGB, left depth [m] and left instance ids, rows top-down."""
        self._gl.make_current()  # the caller's thread may differ from the one that built us
        scene, flags = self._scene, mujoco.mjtRndFlag
        mujoco.mjv_updateScene(self._model, data, self._opt, None, self._cams[0], mujoco.mjtCatBit.mjCAT_ALL, scene)
        left = self._draw(self._rgb, None)
        scene.flags[flags.mjRND_SEGMENT] = scene.flags[flags.mjRND_IDCOLOR] = 1
        seg_rgb = self._draw(self._rgb, self._zbuf).astype(np.int32)
        scene.flags[flags.mjRND_SEGMENT] = scene.flags[flags.mjRND_IDCOLOR] = 0
        zbuf = self._zbuf[::-1].astype(np.float64)
        mujoco.mjv_updateCamera(self._model, data, self._cams[1], scene)  # same geoms, right eye
        right = self._draw(self._rgb, None)

        # Segmentation colour = scene geom segid + 1; 0 is background.
        lut = np.full(scene.ngeom + 1, -1, np.int32)
        for geom in scene.geoms[:scene.ngeom]:
            if geom.segid >= 0:
                is_geom = geom.objtype == mujoco.mjtObj.mjOBJ_GEOM
                lut[geom.segid + 1] = self._instance_of_geom[geom.objid] if is_geom else 0
        segid = seg_rgb[..., 0] + (seg_rgb[..., 1] << 8) + (seg_rgb[..., 2] << 16)
        instances = lut[np.minimum(segid, scene.ngeom)]
        near, far = self._near, self._far
        depth = (near * far / (zbuf * (far - near) + near)).astype(np.float32)  # reversed-z buffer -> planar z
        depth[instances < 0] = np.nan
        return left, right, depth, instances

    def close(self) -> None:
        if self._gl is not None:
            self._gl.make_current()
            self._con.free()
            self._gl.free()
            self._gl = None


class SimWorld:
    """The Go2 in a house: build, step with motor PD, read state, render the stereo head camera."""

    def __init__(self, house: House, cfg: SimConfig) -> None:
        if not isinstance(house, House):
            raise ValueError(f'house must be a House, got {type(house).__name__}')
        if not isinstance(cfg, SimConfig):
            raise ValueError(f'cfg must be a SimConfig, got {type(cfg).__name__}')
        self.house, self.cfg = house, cfg
        self.model = mujoco.MjModel.from_xml_string(house_mjcf(house, cfg))
        self.data = mujoco.MjData(self.model)
        m = self.model
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in go2.JOINT_NAMES]
        aids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n) for n in go2.ACTUATOR_NAMES]
        qadr, dadr = m.jnt_qposadr[jids], m.jnt_dofadr[jids]
        if not (np.all(np.diff(qadr) == 1) and np.all(np.diff(dadr) == 1) and aids == list(range(12))):
            raise RuntimeError('Go2 MJCF joint or actuator order changed')  # the slices below rely on it
        self._q, self._dq = slice(qadr[0], qadr[0] + 12), slice(dadr[0], dadr[0] + 12)
        self._tau_lo, self._tau_hi = m.actuator_ctrlrange[:, 0].copy(), m.actuator_ctrlrange[:, 1].copy()
        self._base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, go2.BASE_BODY)
        self._cmd: MotorCommand | None = None
        self.joint_names = go2.JOINT_NAMES
        self.instance_of_geom = np.zeros(m.ngeom, np.int32)  # geom id -> SceneObject.id, 0 for everything else
        for obj in house.objects:
            self.instance_of_geom[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f'obj_{obj.id}')] = obj.id
        fy = (cfg.image_height / 2) / math.tan(math.radians(cfg.camera_fovy_deg) / 2)
        self._camera_model = StereoCameraModel(cfg.image_width, cfg.image_height, fy, fy, (cfg.image_width - 1) / 2,
                                               (cfg.image_height - 1) / 2, cfg.stereo_baseline_m)
        self._renderer: _StereoRenderer | None = None  # built on first use: physics-only users need no GL
        self.reset()

    def reset(self, spawn: tuple[float, float, float] | None = None) -> None:
        """Home joints at spawn (x, y, yaw) [m, rad] (default house.spawn), zero velocity, damping mode."""
        x, y, yaw = self.house.spawn if spawn is None else spawn
        if not all(math.isfinite(v) for v in (x, y, yaw)):
            raise ValueError(f'spawn must be 3 finite values, got {spawn}')
        home = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, 'home')
        mujoco.mj_resetDataKeyframe(self.model, self.data, home)
        self.data.qpos[0:2] = x, y
        self.data.qpos[3:7] = math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)
        self._cmd = None
        mujoco.mj_forward(self.model, self.data)

    @property
    def time(self) -> float:
        """Sim time [s]."""
        return float(self.data.time)

    @property
    def physics_dt(self) -> float:
        """Physics step [s]."""
        return float(self.model.opt.timestep)

    @property
    def camera_model(self) -> StereoCameraModel:
        """Intrinsics and baseline of the rectified stereo pair."""
        return self._camera_model

    def set_motor_command(self, cmd: MotorCommand | None) -> None:
        """Hold cmd until replaced; None is damping mode (tau = -2 dq: unpowered but braked)."""
        if cmd is not None:
            for name in ('q', 'dq', 'kp', 'kd', 'tau'):
                value = np.asarray(getattr(cmd, name), dtype=float)
                if value.shape != (12,) or not np.all(np.isfinite(value)):
                    raise ValueError(f'MotorCommand.{name} must be 12 finite values, got shape {value.shape}')
            cmd = MotorCommand(*(np.array(getattr(cmd, n), dtype=float) for n in ('q', 'dq', 'kp', 'kd', 'tau')))
        self._cmd = cmd

    def step(self, n: int = 1) -> None:
        """Advance n physics steps, recomputing the clipped motor PD torque before each."""
        if int(n) != n or n < 0:
            raise ValueError(f'n must be a non-negative int, got {n}')
        m, d, cmd = self.model, self.data, self._cmd
        qpos, qvel, ctrl, lo, hi = d.qpos, d.qvel, d.ctrl, self._tau_lo, self._tau_hi
        for _ in range(int(n)):
            dq = qvel[self._dq]
            if cmd is None:
                tau = -DAMPING_KD * dq
            else:
                tau = cmd.kp * (cmd.q - qpos[self._q]) + cmd.kd * (cmd.dq - dq) + cmd.tau
            np.clip(tau, lo, hi, out=ctrl)
            mujoco.mj_step(m, d)

    def base_state(self) -> BaseState:
        """Trunk pose (map frame) and twist (base frame)."""
        qpos, qvel = self.data.qpos, self.data.qvel
        rot = self.data.xmat[self._base].reshape(3, 3)  # base -> world
        w, x, y, z = qpos[3:7]
        return BaseState(qpos[0:3].copy(), np.array([x, y, z, w]), rot.T @ qvel[0:3], qvel[3:6].copy())

    def joint_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Joint positions [rad], velocities [rad/s] and last applied torques [Nm], each (12,)."""
        return self.data.qpos[self._q].copy(), self.data.qvel[self._dq].copy(), self.data.ctrl.copy()

    def camera_mount(self) -> tuple[np.ndarray, np.ndarray]:
        """base_link -> camera_link: translation [m] (3,) and quaternion xyzw (4,); camera_link is REP-103."""
        half = math.radians(self.cfg.camera_pitch_deg) / 2
        return np.array(CAMERA_LINK_XYZ), np.array([0.0, math.sin(half), 0.0, math.cos(half)])

    def render_stereo(self) -> StereoFrame:
        """Render the stereo pair and the left camera's depth and instance ids at the current sim time."""
        if self._renderer is None:
            self._renderer = _StereoRenderer(self.model, self.cfg.image_width, self.cfg.image_height,
                                             self.instance_of_geom)
        left, right, depth, instances = self._renderer.render(self.data)
        return StereoFrame(left, right, depth, instances, self.time)

    def fallen(self) -> bool:
        """True when trunk roll or pitch exceeds 1 rad or the trunk is below 0.12 m."""
        rot = self.data.xmat[self._base].reshape(3, 3)
        roll, pitch = math.atan2(rot[2, 1], rot[2, 2]), math.asin(max(-1.0, min(1.0, -rot[2, 0])))
        return abs(roll) > 1.0 or abs(pitch) > 1.0 or self.data.qpos[2] < 0.12

    def close(self) -> None:
        """Free the GL context; the world can still step."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
