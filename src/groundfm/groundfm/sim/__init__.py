"""Simulation: a Go2 quadruped in a procedurally generated house, in MuJoCo.

house.py generates the seedable house (rooms, doorways, labelled furniture) and its ground-truth JSON;
go2.py locates the Go2 model and holds its joint facts; world.py assembles the MJCF, steps physics with per-motor PD
and renders the stereo pair; motors.py validates motor commands; gazebo.py exports the same house as SDF;
node.py is the rclpy adapter that publishes it all at sim time.
"""
