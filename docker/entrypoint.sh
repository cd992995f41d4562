#!/usr/bin/env bash
# Source ROS 2 and the workspace, then run the command (default: the demo).
set -e
source /opt/ros/kilted/setup.bash
source /ws/install/setup.bash
# colcon puts ament_python console scripts in lib/<package>/; expose the groundfm CLI on PATH.
export PATH="/ws/install/groundfm/lib/groundfm:$PATH"
exec "$@"
