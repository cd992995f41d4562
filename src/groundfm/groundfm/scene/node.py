"""ROS adapter for scene question answering (3D-R1); the graph, grounding and reasoning live in graph.py,
grounding.py and qa.py.

Topics and services (relative, so a namespace per robot works):
  in:  map/objects (groundfm_interfaces/Object3DArray, latched) - the mapping node's 3-D instances, frame `map`;
       odom (nav_msgs/Odometry) - the robot pose for "nearest to me", left/right and distances (odom = map in sim);
       sim/scene (std_msgs/String, latched) - only with room_source 'sim_scene': the sim's ground-truth room layout;
       stereo/left/image_rect (sensor_msgs/Image) - only with backend 'vlm': the newest view handed to the model
  out: scene/markers (visualization_msgs/MarkerArray, latched): one CUBE and one TEXT marker per object, frame map
  srv: ask_scene (groundfm_interfaces/AskScene) - answered within 1 s on CPU with the graph backend
MiniLM loads at start-up (about 10 s), never per request. Empty or overlong questions get success false with a
message; any other question gets an answer, "I don't know" with a reason included.
"""

import json
import math
import sys

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA, String
from visualization_msgs.msg import Marker, MarkerArray

from groundfm.ros import qos
from groundfm.ros.convert import image_to_numpy
from groundfm.ros.entry import run_node
from groundfm.ros.params import declare_parameters
from groundfm.scene.config import SCENE_PARAMETERS, SceneConfig
from groundfm.scene.graph import ObjectObservation, RoomLayout, SceneGraph, SceneNode
from groundfm.scene.grounding import Grounder
from groundfm.scene.qa import GraphBackend, QAEngine, QAResult
from groundfm.scene.rewards import Box3D
from groundfm_interfaces.msg import Object3D, Object3DArray
from groundfm_interfaces.srv import AskScene


def observation_from_msg(obj: Object3D) -> ObjectObservation | None:
    """Object3D -> ObjectObservation (yaw from the orientation, colour unknown when RGBA is all zero); None if bad."""
    p, q, s = obj.center.position, obj.center.orientation, obj.size
    values = (p.x, p.y, p.z, s.x, s.y, s.z, q.z, q.w)
    if not all(math.isfinite(v) for v in values) or min(s.x, s.y, s.z) < 0 or not obj.label:
        return None
    yaw = 2.0 * math.atan2(q.z, q.w) if (q.z or q.w) else 0.0
    c = obj.color
    rgb = None if (c.r, c.g, c.b, c.a) == (0.0, 0.0, 0.0, 0.0) else (float(c.r), float(c.g), float(c.b))
    return ObjectObservation(int(obj.id), obj.label, Box3D((p.x, p.y, p.z), (s.x, s.y, s.z), yaw), rgb,
                             float(obj.confidence), 1.0, obj.room)


def node_to_msg(node: SceneNode) -> Object3D:
    """SceneNode -> Object3D (map frame)."""
    b = node.box
    rgb = node.rgb or (0.0, 0.0, 0.0)
    return Object3D(
        id=int(node.id), label=node.label, confidence=float(node.confidence),
        color=ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=1.0 if node.rgb else 0.0),
        color_name=node.color_name,
        center=Pose(position=Point(x=float(b.center[0]), y=float(b.center[1]), z=float(b.center[2])),
                    orientation=Quaternion(z=math.sin(b.yaw / 2), w=math.cos(b.yaw / 2))),
        size=Vector3(x=float(b.size[0]), y=float(b.size[1]), z=float(b.size[2])), room=node.room)


class SceneNodeRos(Node):
    """Keep a scene graph of map/objects and answer AskScene over it."""

    def __init__(self) -> None:
        super().__init__('scene')
        self.cfg = SceneConfig(**declare_parameters(self, SCENE_PARAMETERS))
        layout = None
        if self.cfg.room_source == 'file':
            layout = RoomLayout.load(self.cfg.rooms_path)  # a bad file stops start-up with the reason
        self.graph = SceneGraph(self.cfg, layout)
        self.grounder = Grounder(cfg=self.cfg)
        self.grounder.warm_up()  # MiniLM loads now, not on the first question
        self._view: np.ndarray | None = None
        if self.cfg.backend == 'vlm':
            from groundfm.scene.vlm import VLMBackend  # imports transformers: only when asked for
            backend = VLMBackend.from_config(self.cfg, views=lambda: [] if self._view is None else [self._view])
            self.create_subscription(Image, 'stereo/left/image_rect', self._on_image, qos.SENSOR)
        else:
            backend = GraphBackend(self.grounder, self.cfg)
        self.engine = QAEngine(backend, self.cfg)
        self._pose: tuple[float, float, float] | None = None
        self._markers = self.create_publisher(MarkerArray, 'scene/markers', qos.LATCHED)
        self.create_subscription(Object3DArray, 'map/objects', self._on_objects, qos.LATCHED)
        self.create_subscription(Odometry, 'odom', self._on_odom, qos.STATE)
        if self.cfg.room_source == 'sim_scene':
            self.create_subscription(String, 'sim/scene', self._on_scene, qos.LATCHED)
        self.create_service(AskScene, 'ask_scene', self._on_ask)
        self.get_logger().info(f'scene ready: backend {self.cfg.backend}, rooms from {self.cfg.room_source}, '
                               'semantics as the map reports them (oracle segmentation in the sim)')

    def _on_image(self, msg: Image) -> None:
        try:
            self._view = image_to_numpy(msg)
        except ValueError as err:
            self.get_logger().warning(f'skipped image: {err}', throttle_duration_sec=5.0)

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
        if all(math.isfinite(v) for v in (p.x, p.y, yaw)):
            self._pose = (p.x, p.y, yaw)

    def _on_scene(self, msg: String) -> None:
        try:
            layout = RoomLayout.from_house_json(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as err:
            self.get_logger().warning(f'ignored sim/scene: {err}', throttle_duration_sec=5.0)
            return
        self.graph.set_layout(layout)
        self.get_logger().info(f'room layout: {len(layout.rooms)} rooms from the sim ground truth (flagged)')
        self._publish_markers()

    def _on_objects(self, msg: Object3DArray) -> None:
        if msg.header.frame_id and msg.header.frame_id != self.cfg.map_frame:
            self.get_logger().warning(f'map/objects in frame {msg.header.frame_id!r}, expected '
                                      f'{self.cfg.map_frame!r}; used as is', throttle_duration_sec=10.0)
        obs = [o for o in (observation_from_msg(m) for m in msg.objects) if o is not None]
        if len(obs) < len(msg.objects):
            self.get_logger().warning(f'dropped {len(msg.objects) - len(obs)} malformed objects',
                                      throttle_duration_sec=5.0)
        stats = self.graph.update(obs)
        self.get_logger().info(f'map/objects: {len(msg.objects)} in, +{stats.added} new, {stats.updated} updated, '
                               f'{stats.merged} merged; {len(self.graph)} objects', throttle_duration_sec=5.0)
        self._publish_markers()

    def _publish_markers(self) -> None:
        out = MarkerArray(markers=[Marker(action=Marker.DELETEALL, ns='objects')])
        stamp = self.get_clock().now().to_msg()
        for n in self.graph.objects:
            b, rgb = n.box, n.rgb or (0.6, 0.6, 0.6)
            pose = node_to_msg(n).center
            cube = Marker(ns='objects', id=n.id, type=Marker.CUBE, action=Marker.ADD, pose=pose,
                          scale=Vector3(x=max(b.size[0], 0.01), y=max(b.size[1], 0.01), z=max(b.size[2], 0.01)),
                          color=ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=0.5))
            text_pose = Pose(position=Point(x=pose.position.x, y=pose.position.y, z=float(b.z_range()[1] + 0.15)))
            text = Marker(ns='labels', id=n.id, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, pose=text_pose,
                          scale=Vector3(z=0.18), color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
                          text=f'{n.describe()}{" (" + n.room.replace("_", " ") + ")" if n.room else ""}')
            for m in (cube, text):
                m.header.frame_id, m.header.stamp = self.cfg.map_frame, stamp
                out.markers.append(m)
        self._markers.publish(out)

    def _on_ask(self, request: AskScene.Request, response: AskScene.Response) -> AskScene.Response:
        try:
            result = self.engine.answer(request.question, self.graph, self._pose)
        except Exception as err:  # never let one question take the node down
            self.get_logger().error(f'question failed: {type(err).__name__}: {err}')
            result = QAResult(False, '', '', '', message=f'internal error: {type(err).__name__}: {err}')
        response.success, response.message = result.success, result.message
        response.answer, response.reasoning, response.raw_output = result.answer, result.reasoning, result.raw_output
        response.boxes = [node_to_msg(n) for n in result.boxes]
        response.confidence = float(result.confidence)
        self.get_logger().info(f'Q: {request.question[:80]!r} -> {result.answer[:100]!r} '
                               f'({result.latency_ms:.1f} ms)')
        return response


def main(args: list[str] | None = None) -> int:
    """Entry point of `scene_node`."""
    return run_node('scene', SceneNodeRos, args)


if __name__ == '__main__':
    sys.exit(main())
