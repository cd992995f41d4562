"""Bring up the groundfm robot dog: the MuJoCo sim (or, with sim:=false, nothing in its place: a bridge on the real
robot publishes the same topics) and one switch per capability node.

    ros2 launch groundfm robot_dog.launch.py scene_seed:=3          # system ROS 2
    groundfm launch robot_dog scene_seed:=3                         # ROS 2 from PyPI (same file, same command lines)
    groundfm launch robot_dog --show-args

Written against the public launch / launch_ros API only, so both runners load it unchanged.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, Shutdown
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

BOOL = ['true', 'false']

# capability -> (description, whether it is on by default). Each runs executable '<capability>_node' as node
# '<capability>'; all are on by default (switch one off with e.g. depth:=false).
CAPABILITIES = {
    'depth': ('Stereo depth node (depth_node): rectified stereo pair -> depth/image', 'true'),
    'mapping': ('Mapping node (mapping_node): depth + odometry -> map/gaussians, map/occupancy, map/objects', 'true'),
    'scene': ('Scene understanding node (scene_node): answers ask_scene over the map', 'true'),
    'navigation': ('Navigation node (navigation_node): navigate action -> cmd_vel / waypoints', 'true'),
    'control': ('Locomotion control node (control_node): cmd_vel -> joint_command', 'true'),
}


def generate_launch_description() -> LaunchDescription:
    """The robot dog stack: arguments, the sim, and the capability nodes."""
    use_sim_time = LaunchConfiguration('use_sim_time')
    params_file = LaunchConfiguration('params_file')
    namespace = LaunchConfiguration('namespace')

    arguments = [
        DeclareLaunchArgument('use_sim_time', default_value='true', choices=BOOL,
                              description='Nodes run on /clock from the sim instead of the wall clock'),
        DeclareLaunchArgument('sim', default_value='true', choices=BOOL,
                              description='Start the MuJoCo sim node; false on the real robot, where a bridge '
                                          'publishes the same topics'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([FindPackageShare('groundfm'), 'config',
                                                                  'robot_dog.yaml']),
                              description='Node parameter file (YAML, one section per node name)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description="Namespace for every node and topic, e.g. 'dog1' ('' = none)"),
        DeclareLaunchArgument('scene_seed', default_value='0',
                              description="House layout seed of the sim; overrides params_file's sim.scene_seed"),
    ]
    arguments += [DeclareLaunchArgument(name, default_value=default, choices=BOOL, description=description)
                  for name, (description, default) in CAPABILITIES.items()]

    sim = Node(
        package='groundfm',
        executable='sim_node',
        name='sim',
        namespace=namespace,
        # The sim publishes /clock, so it must itself run on the wall clock whatever use_sim_time says.
        parameters=[params_file, {'use_sim_time': False, 'scene_seed': LaunchConfiguration('scene_seed')}],
        output='screen',
        respawn=False,
        on_exit=Shutdown(reason='the sim exited; the stack cannot run without it'),
        condition=IfCondition(LaunchConfiguration('sim')),
    )
    capabilities = [
        Node(
            package='groundfm',
            executable=f'{name}_node',
            name=name,
            namespace=namespace,
            parameters=[params_file, {'use_sim_time': use_sim_time}],
            output='screen',
            condition=IfCondition(LaunchConfiguration(name)),
        )
        for name in CAPABILITIES
    ]
    return LaunchDescription([
        *arguments,
        LogInfo(msg=['groundfm robot_dog: parameters from ', params_file]),
        sim,
        *capabilities,
    ])
