"""TF over ROS 2 topics: broadcasters and a listener filling groundfm's TransformBuffer (tf2_ros is not on PyPI).

Topics and QoS match tf2_ros, so real tf2 tools see our transforms and we see theirs: /tf is reliable volatile
(depth 100), /tf_static is reliable transient-local (depth 1 for publishers; every static transform goes in one
message, since a late joiner only gets the last one).
"""

from collections.abc import Iterable

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from groundfm.geometry.transform_buffer import Transform, TransformBuffer
from groundfm.ros.convert import seconds_from_stamp, transform_to_numpy

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
TF_STATIC_LISTEN_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class TransformBroadcaster:
    """Publish dynamic transforms on /tf."""

    def __init__(self, node: Node) -> None:
        self._pub = node.create_publisher(TFMessage, '/tf', TF_QOS)

    def send(self, transforms: Iterable[TransformStamped]) -> None:
        """Publish transforms in one message."""
        self._pub.publish(TFMessage(transforms=list(transforms)))


class StaticTransformBroadcaster:
    """Publish static transforms on latched /tf_static, always re-sending the full set."""

    def __init__(self, node: Node) -> None:
        self._pub = node.create_publisher(TFMessage, '/tf_static', TF_STATIC_QOS)
        self._by_child: dict[str, TransformStamped] = {}

    def send(self, transforms: Iterable[TransformStamped]) -> None:
        """Add or replace static transforms and publish the whole set."""
        for t in transforms:
            self._by_child[t.child_frame_id] = t
        self._pub.publish(TFMessage(transforms=list(self._by_child.values())))


class TransformListener:
    """Subscribe to /tf and /tf_static and keep `buffer` up to date; malformed transforms are logged and skipped."""

    def __init__(self, node: Node, buffer: TransformBuffer | None = None) -> None:
        self.buffer = buffer or TransformBuffer()
        self._logger = node.get_logger()
        node.create_subscription(TFMessage, '/tf', lambda m: self._on_message(m, False), TF_QOS)
        node.create_subscription(TFMessage, '/tf_static', lambda m: self._on_message(m, True), TF_STATIC_LISTEN_QOS)

    def _on_message(self, msg: TFMessage, static: bool) -> None:
        for t in msg.transforms:
            translation, rotation = transform_to_numpy(t.transform)
            try:
                self.buffer.set_transform(t.header.frame_id, t.child_frame_id, seconds_from_stamp(t.header.stamp),
                                          Transform(translation, rotation), static=static)
            except ValueError as err:
                self._logger.warning(f'ignored transform: {err}', throttle_duration_sec=5.0)
