"""Rigid-body geometry shared by every capability: quaternions (x, y, z, w as in ROS) and a transform buffer."""
