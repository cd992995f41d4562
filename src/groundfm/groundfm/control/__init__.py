"""Control: the VLA-R1 control stack, high-level motion to joint commands for the Go2's 12 leg joints (issue #3).

kinematics.py (leg FK / IK / Jacobians) -> gait.py (trot, Raibert placement) -> controller.py (behaviours, limits,
falls) <- pursuit.py (waypoints, discrete moves); config.py holds the settings; node.py is the rclpy adapter.
"""
