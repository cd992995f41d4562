"""QoS presets, chosen per stream kind (see README, "Conventions")."""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Images, depth, clouds, odometry at rate: newest data matters, a lost frame is not resent.
SENSOR = qos_profile_sensor_data
# Maps, label tables, static transforms, scene ground truth: a late joiner gets the last message.
LATCHED = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
# Commands (cmd_vel, joint_command): delivered, but only the newest one counts.
COMMAND = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# State streams a controller closes its loop on (/odom, /joint_states, /tf): reliable, short queue.
STATE = QoSProfile(
    depth=10,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
# /clock is published best effort by simulators (as Gazebo does); rclpy's time source subscribes compatibly.
CLOCK = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
