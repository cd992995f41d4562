"""ROS 2 edge of groundfm: message conversion, QoS presets, TF, parameters, the launcher and CLI plumbing."""
