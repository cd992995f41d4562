"""groundfm: 3D foundation models grounded on a quadruped robot, as ROS 2 nodes over a ROS-free core.

Data flows sensors -> depth -> map -> plan -> control:
  sim/ (or a real robot bridge) -> depth/ -> mapping/ -> scene/, navigation/ -> control/ -> sim/.
Each capability package holds ROS-free core modules and one thin `node.py`; `ros/` holds the shared message
conversions, QoS presets, TF buffer and launcher. The core never imports rclpy.
"""

__version__ = '0.1.0'
