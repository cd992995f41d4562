"""ROS adapter for the streaming VolSplat map; the maths lives in voxel_map.py, volsplat.py, rasterizer.py, ... .

Topics (relative, so a namespace per robot works):
  in:  stereo/left/image_rect (rgb8) + stereo/left/camera_info, depth/image or sim/depth_gt (32FC1 metres, NaN none;
       parameter depth_source), optional sim/labels (32SC1) + sim/label_table (oracle semantics), /tf + /tf_static
  out: map/gaussians (PointCloud2: x y z rgb opacity scale_x scale_y scale_z, one point per Gaussian),
       map/occupancy (nav_msgs/OccupancyGrid), map/objects (groundfm_interfaces/Object3DArray), all latched
  srv: map/render (groundfm_interfaces/RenderView): render rgb + depth from a requested optical-frame pose
Callbacks only store the newest messages; a worker thread pairs colour and depth by stamp, looks the camera pose up in
TF at that stamp (waiting up to tf_timeout_s, then skipping the frame with a log line), keeps keyframes only and fuses
them. Bad inputs (encodings, sizes, missing camera_info or TF) are logged, throttled, and skipped.
"""

import math
import sys
import threading
import time
from array import array
from pathlib import Path

import numpy as np
import rclpy
import torch
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from nav_msgs.msg import MapMetaData, OccupancyGrid
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header

from groundfm.geometry.transform_buffer import TransformError
from groundfm.mapping.config import MAPPING_PARAMETERS, MapConfig, VolSplatConfig
from groundfm.mapping.objects import ObjectInstance, extract_objects
from groundfm.mapping.occupancy import OccupancyGrid2D, occupancy_from_map
from groundfm.mapping.rasterizer import Camera, render
from groundfm.mapping.volsplat import GaussianMap, Gaussians, VolSplatRefiner
from groundfm.mapping.voxel_map import VoxelMap
from groundfm.ros import qos
from groundfm.ros.convert import image_to_numpy, numpy_to_image
from groundfm.ros.entry import run_node
from groundfm.ros.params import declare_parameters
from groundfm.ros.tf import TransformListener
from groundfm_interfaces.msg import LabelTable, Object3D, Object3DArray

_FIELDS = ('x', 'y', 'z', 'rgb', 'opacity', 'scale_x', 'scale_y', 'scale_z')


def gaussians_to_cloud(g: Gaussians, header: Header) -> PointCloud2:
    """PointCloud2 with x y z rgb (packed 0x00RRGGBB in a float32, as RViz reads it) opacity scale_x/y/z."""
    n = len(g)
    rgb8 = (g.dc_rgb().numpy() * 255.0 + 0.5).astype(np.uint32)
    packed = (rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]
    data = np.empty((n, 8), np.float32)
    data[:, 0:3] = g.means.numpy()
    data[:, 3] = packed.view(np.float32)
    data[:, 4] = g.opacities.numpy()
    data[:, 5:8] = g.scales.numpy()
    msg = PointCloud2(header=header, height=1, width=n, is_bigendian=False, point_step=32, row_step=32 * n,
                      is_dense=True)
    msg.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, name in enumerate(_FIELDS)]
    buf = array('B')
    buf.frombytes(data.tobytes())
    msg.data = buf
    return msg


def occupancy_to_msg(grid: OccupancyGrid2D, header: Header, floor_z: float) -> OccupancyGrid:
    """nav_msgs/OccupancyGrid of a grid (row-major, origin at cell (0, 0)'s corner)."""
    info = MapMetaData(resolution=float(grid.resolution), width=grid.width, height=grid.height,
                       origin=Pose(position=Point(x=grid.origin[0], y=grid.origin[1], z=float(floor_z)),
                                   orientation=Quaternion(w=1.0)))
    info.map_load_time = header.stamp
    msg = OccupancyGrid(header=header, info=info)
    data = array('b')
    data.frombytes(grid.data.astype(np.int8).tobytes())
    msg.data = data
    return msg


def objects_to_msg(objs: list[ObjectInstance], header: Header) -> Object3DArray:
    """groundfm_interfaces/Object3DArray of object instances (boxes turned by yaw about z)."""
    out = Object3DArray(header=header)
    for o in objs:
        pose = Pose(position=Point(x=float(o.center[0]), y=float(o.center[1]), z=float(o.center[2])),
                    orientation=Quaternion(z=math.sin(o.yaw / 2), w=math.cos(o.yaw / 2)))
        out.objects.append(Object3D(
            id=int(o.id), label=o.label, confidence=float(o.confidence),
            color=ColorRGBA(r=float(o.color[0]), g=float(o.color[1]), b=float(o.color[2]), a=1.0),
            color_name=o.color_name, center=pose,
            size=Vector3(x=float(o.size[0]), y=float(o.size[1]), z=float(o.size[2])), room=''))
    return out


def load_refiner(weights_path: str) -> VolSplatRefiner:
    """The refiner with weights from a safetensors file ('' = untrained head on the surfel prior)."""
    if not weights_path:
        return VolSplatRefiner()
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(weights_path, 'pt') as f:
        meta = f.metadata() or {}
    cfg = VolSplatConfig(**json.loads(meta.get('config', '{}')))
    model = VolSplatRefiner(cfg)
    model.load_state_dict(load_file(weights_path))
    return model


class MappingNode(Node):
    """Fuse posed RGB-D keyframes into the VolSplat Gaussian map and publish it."""

    def __init__(self) -> None:
        super().__init__('mapping')
        values = declare_parameters(self, MAPPING_PARAMETERS)
        values.pop('use_sim_time', None)
        self.cfg = cfg = MapConfig(**values)
        torch.set_num_threads(1)  # many small ops: one thread is faster and leaves a core to the rest of the stack
        if cfg.load_map and cfg.map_path and Path(cfg.map_path).is_file():
            self.vmap = VoxelMap.load(cfg.map_path, cfg)
            self.get_logger().info(f'loaded {self.vmap.size} voxels from {cfg.map_path}')
        else:
            self.vmap = VoxelMap(cfg)
        self.gmap = GaussianMap(self.vmap, load_refiner(cfg.weights_path))
        self.gmap.recompute_all()
        self._lock = threading.Lock()  # guards the map between the worker and the render service
        self.tf = TransformListener(self)

        self._frames: dict[int, dict] = {}  # stamp [ns] -> {'rgb', 'depth', 'labels', 'since'}
        self._frames_lock = threading.Lock()
        self._info: CameraInfo | None = None
        self._label_table: dict[int, str] = {}
        self._wake = threading.Event()
        self._last_key_pose: np.ndarray | None = None
        self._last_publish = -math.inf
        self._published_keyframes = 0  # keyframes in the map at its last publication
        self._last_occupancy: OccupancyGrid | None = None
        self._keyframe_ms: list[float] = []

        self._pub_cloud = self.create_publisher(PointCloud2, 'map/gaussians', qos.LATCHED)
        self._pub_occ = self.create_publisher(OccupancyGrid, 'map/occupancy', qos.LATCHED)
        self._pub_objects = self.create_publisher(Object3DArray, 'map/objects', qos.LATCHED)
        self.create_subscription(Image, 'stereo/left/image_rect', lambda m: self._store('rgb', m), qos.SENSOR)
        self.create_subscription(Image, cfg.depth_topic, lambda m: self._store('depth', m), qos.SENSOR)
        self.create_subscription(CameraInfo, 'stereo/left/camera_info', self._on_info, qos.SENSOR)
        if cfg.use_labels:
            self.create_subscription(Image, 'sim/labels', lambda m: self._store('labels', m), qos.SENSOR)
            self.create_subscription(LabelTable, 'sim/label_table', self._on_label_table, qos.LATCHED)
        self._render_srv = None
        try:
            from groundfm_interfaces.srv import RenderView
        except ImportError:
            self.get_logger().warning('groundfm_interfaces has no RenderView yet (rebuild the interfaces): '
                                      'map/render is off')
        else:
            self._render_srv = self.create_service(RenderView, 'map/render', self._on_render)

        self._running = True
        self._worker = threading.Thread(target=self._work, name='mapping-worker', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'mapping: voxel {cfg.voxel_size} m, budget {cfg.voxel_budget}, depth from {cfg.depth_topic}, '
            f'refiner {"weights " + cfg.weights_path if cfg.weights_path else "untrained (surfel prior)"}')

    # --- inputs ---------------------------------------------------------------------------------------------------
    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _on_label_table(self, msg: LabelTable) -> None:
        self._label_table = dict(zip((int(i) for i in msg.ids), msg.labels, strict=False))
        self.get_logger().info(f'label table from {msg.source!r}: {len(self._label_table)} ids'
                               + (' (oracle semantics)' if msg.source == 'oracle' else ''))

    def _store(self, kind: str, msg: Image) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._frames_lock:
            entry = self._frames.setdefault(stamp, {'since': time.monotonic()})
            entry[kind] = msg
            for old in sorted(self._frames)[:-8]:  # keep a few stamps only
                del self._frames[old]
        self._wake.set()

    def _next_frame(self) -> tuple[int, dict] | None:
        """The newest stamp with colour and depth (and labels, or a short grace for them); drops older stamps."""
        with self._frames_lock:
            ready = [s for s, e in self._frames.items() if 'rgb' in e and 'depth' in e]
            if not ready:
                return None
            stamp = max(ready)
            entry = self._frames[stamp]
            wants_labels = self.cfg.use_labels and self._label_table and 'labels' not in entry
            if wants_labels and time.monotonic() - entry['since'] < 0.2:
                return None
            for s in [s for s in self._frames if s <= stamp]:
                del self._frames[s]
            return stamp, entry

    # --- the worker -----------------------------------------------------------------------------------------------
    def _work(self) -> None:
        pending: tuple[int, dict] | None = None
        while self._running and rclpy.ok(context=self.context):
            self._wake.wait(timeout=0.05)
            self._wake.clear()
            nxt = self._next_frame()
            if nxt is not None:
                pending = nxt  # a newer frame replaces one still waiting for TF
            if pending is None:
                continue
            try:
                done = self._process(*pending)
            except Exception as err:  # a bad frame must not stop the map
                self.get_logger().error(f'frame skipped: {type(err).__name__}: {err}', throttle_duration_sec=5.0)
                done = True
            if done:
                pending = None

    def _process(self, stamp_ns: int, entry: dict) -> bool:
        """Integrate one frame if it is a keyframe; False when its transform may still arrive."""
        cfg, log = self.cfg, self.get_logger()
        rgb_msg, depth_msg = entry['rgb'], entry['depth']
        if self._info is None:
            log.warning('no stereo/left/camera_info yet: frame skipped', throttle_duration_sec=5.0)
            return True
        try:
            rgb, depth, labels, k = self._decode(rgb_msg, depth_msg, entry.get('labels'))
        except ValueError as err:
            log.warning(f'frame skipped: {err}', throttle_duration_sec=5.0)
            return True
        stamp = stamp_ns * 1e-9
        try:
            t_map_cam = self.tf.buffer.lookup(cfg.map_frame, rgb_msg.header.frame_id, stamp).matrix()
        except TransformError as err:
            if time.monotonic() - entry['since'] < cfg.tf_timeout_s:
                return False
            log.warning(f'frame at t={stamp:.3f} s skipped: no transform {cfg.map_frame} <- '
                        f'{rgb_msg.header.frame_id!r} ({err})', throttle_duration_sec=2.0)
            return True
        if not self._is_keyframe(t_map_cam):
            self._heartbeat(rgb_msg.header.stamp)
            return True
        start = time.perf_counter()
        with self._lock:
            stats = self.vmap.integrate(rgb, depth, k, t_map_cam, labels)
            self.gmap.update()
        ms = (time.perf_counter() - start) * 1e3
        self._last_key_pose = t_map_cam
        self._keyframe_ms.append(ms)
        n = self.vmap.keyframes
        if n == 1 or n % 20 == 0:
            log.info(f'keyframe {n}: {stats.touched} voxels touched, {stats.created} new, {stats.evicted} evicted; '
                     f'map {self.vmap.size} voxels; {np.mean(self._keyframe_ms[-20:]):.0f} ms per keyframe')
        if cfg.map_path and cfg.save_every_keyframes and n % cfg.save_every_keyframes == 0:
            self.save_map()
        if time.monotonic() - self._last_publish >= cfg.publish_period_s:
            self.publish_map(rgb_msg.header.stamp)
        return True

    def _decode(self, rgb_msg: Image, depth_msg: Image, labels_msg: Image | None):
        """Check and convert the inputs: rgb (H, W, 3) uint8, depth (H, W) float32 [m], labels or None, K (3, 3)."""
        if rgb_msg.encoding not in ('rgb8', 'bgr8'):
            raise ValueError(f'colour encoding {rgb_msg.encoding!r} is not rgb8/bgr8')
        rgb = image_to_numpy(rgb_msg)
        if rgb_msg.encoding == 'bgr8':
            rgb = rgb[..., ::-1]
        if depth_msg.encoding == '32FC1':
            depth = image_to_numpy(depth_msg).astype(np.float32)
        elif depth_msg.encoding in ('16UC1', 'mono16'):
            depth = image_to_numpy(depth_msg).astype(np.float32) * 1e-3  # millimetres (REP-118); 0 = none
            depth[depth == 0] = np.nan
        else:
            raise ValueError(f'depth encoding {depth_msg.encoding!r} is not 32FC1 or 16UC1')
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f'depth {depth.shape[1]}x{depth.shape[0]} does not match colour '
                             f'{rgb.shape[1]}x{rgb.shape[0]}')
        info = self._info
        if (info.width, info.height) != (rgb.shape[1], rgb.shape[0]):
            raise ValueError(f'camera_info is {info.width}x{info.height}, colour {rgb.shape[1]}x{rgb.shape[0]}')
        k = np.array(info.k, dtype=np.float64).reshape(3, 3)
        labels = None
        if labels_msg is not None:
            lab = image_to_numpy(labels_msg)
            if lab.shape == depth.shape and labels_msg.encoding in ('32SC1', '16UC1', 'mono16'):
                labels = lab.astype(np.int32)
        return np.ascontiguousarray(rgb), depth, labels, k

    def _is_keyframe(self, pose: np.ndarray) -> bool:
        last = self._last_key_pose
        if last is None:
            return True
        moved = np.linalg.norm(pose[:3, 3] - last[:3, 3])
        cos = (np.trace(last[:3, :3].T @ pose[:3, :3]) - 1) / 2
        turned = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
        return moved >= self.cfg.keyframe_distance_m or turned >= self.cfg.keyframe_angle_deg

    # --- outputs --------------------------------------------------------------------------------------------------
    def publish_map(self, stamp) -> None:
        """Publish the Gaussians, the occupancy grid and the objects."""
        cfg = self.cfg
        header = Header(stamp=stamp, frame_id=cfg.map_frame)
        with self._lock:
            slots = self.vmap.slots()
            g = self.gmap.gaussians(slots)
            grid = occupancy_from_map(self.vmap, cfg)
            solid = ~self.vmap.free_space(slots)  # objects only from voxels that no later view saw through
            objs = extract_objects(self.vmap.centroids(slots)[solid], self.vmap.count[slots][solid],
                                   self.vmap.label[slots][solid], self.vmap.label_votes[slots][solid],
                                   g.dc_rgb().numpy()[solid], self._label_table,
                                   cfg.object_min_voxels) if self._label_table else []
        self._pub_cloud.publish(gaussians_to_cloud(g, header))
        self._last_occupancy = occupancy_to_msg(grid, header, cfg.floor_z)
        self._pub_occ.publish(self._last_occupancy)
        self._pub_objects.publish(objects_to_msg(objs, header))
        self._last_publish = time.monotonic()
        self._published_keyframes = self.vmap.keyframes

    def _heartbeat(self, stamp) -> None:
        """A frame that adds nothing (no keyframe): once per publish period, publish the keyframes not yet published,
        else re-stamp the last occupancy grid with this frame's stamp, so a consumer (navigation stops on a stale map)
        can tell a map that is current while the robot stands still from a mapping node that stopped."""
        if time.monotonic() - self._last_publish < self.cfg.publish_period_s or self._last_key_pose is None:
            return
        if self.vmap.keyframes != self._published_keyframes or self._last_occupancy is None:
            self.publish_map(stamp)
            return
        self._last_occupancy.header.stamp = stamp
        self._pub_occ.publish(self._last_occupancy)
        self._last_publish = time.monotonic()

    def _on_render(self, request, response):
        """map/render: rgb8 + 32FC1 images of the map seen from request.pose (optical frame: z forward, y down)."""
        try:
            if request.width == 0 or request.height == 0 or request.width * request.height > 4_000_000:
                raise ValueError(f'image size {request.width}x{request.height} must be in 1..4e6 pixels')
            if not all(math.isfinite(v) and v > 0 for v in (request.fx, request.fy)):
                raise ValueError('fx and fy must be finite and > 0')
            frame = request.pose.header.frame_id or self.cfg.map_frame
            p, q = request.pose.pose.position, request.pose.pose.orientation
            from groundfm.geometry.transform_buffer import Transform

            t_frame_cam = Transform(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w])).matrix()
            if frame != self.cfg.map_frame:
                t_frame_cam = self.tf.buffer.lookup(self.cfg.map_frame, frame).matrix() @ t_frame_cam
            k = torch.tensor([[request.fx, 0.0, request.cx], [0.0, request.fy, request.cy], [0.0, 0.0, 1.0]])
            cam = Camera(k.float(), torch.from_numpy(np.linalg.inv(t_frame_cam)).float(), request.width,
                         request.height)
            with self._lock:
                g = self.gmap.gaussians()
            with torch.no_grad():
                rgb, depth, acc = render(g, cam)
            depth = depth.numpy().astype(np.float32)
            depth[acc.numpy() < 0.5] = np.nan
            header = Header(stamp=request.pose.header.stamp, frame_id='render_optical_frame')
            response.image = numpy_to_image((rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8), 'rgb8', header)
            response.depth = numpy_to_image(depth, '32FC1', header)
            response.success, response.message = True, f'{len(g)} Gaussians'
        except (ValueError, TransformError) as err:
            response.success, response.message = False, str(err)
        return response

    def save_map(self) -> None:
        """Save the voxel map atomically to map_path."""
        with self._lock:
            path = self.vmap.save(self.cfg.map_path)
        self.get_logger().info(f'saved {self.vmap.size} voxels to {path}')

    def destroy_node(self) -> None:
        """Stop the worker and save the map (if map_path is set) before the node goes away."""
        self._running = False
        worker = getattr(self, '_worker', None)
        if worker is not None and worker.is_alive():
            worker.join(timeout=10.0)
        if getattr(self, 'cfg', None) is not None and self.cfg.map_path and self.vmap.size:
            try:
                self.save_map()
            except OSError as err:
                self.get_logger().error(f'could not save the map: {err}')
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of `mapping_node`."""
    return run_node('mapping', MappingNode, args)


if __name__ == '__main__':
    sys.exit(main())
