"""Mapping: the streaming VolSplat Gaussian map (issue #5). ROS-free core; node.py is the rclpy adapter.

voxel_map (hashed sparse voxel grid, running means, budget) -> volsplat (refiner + 38-parameter head, one Gaussian per
voxel) -> rasterizer (gsplat on CUDA, else pure torch) / occupancy (2-D grid) / objects (instances from label votes).
feedforward holds the paper's multi-view path (cost volume, sparse U-Net, ZPressor, PM-Loss); sequence makes posed
sim RGB-D sequences for the benchmark and training.
"""
