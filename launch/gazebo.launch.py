"""Bring up the groundfm house and the Go2 in Gazebo (Harmonic/Ionic) with ros_gz, instead of the MuJoCo sim node.

NOT RUN HERE: this machine has no Gazebo; the file is written against the real launch / launch_ros / ros_gz_sim APIs
and is untested. Needs: gz sim, ros_gz_sim, ros_gz_bridge, and sdformat_mjcf (`pip install sdformat-mjcf`, which
provides `mjcf2sdf`) to convert the Go2 MJCF. Steps: (1) groundfm.sim.gazebo writes the house world for `seed`,
including the robot at the house spawn with JointStatePublisher + OdometryPublisher, and the Go2 MJCF with the two
stereo cameras; (2) mjcf2sdf converts that MJCF to SDF; (3) gz sim runs the world; (4) parameter_bridge maps
/clock, the stereo images + camera_info, odom and joint_states to the topics the rest of groundfm expects.
Gazebo has no motor PD of ours: joint_command is not bridged (add a JointController per joint to drive it).
Usage:  ros2 launch launch/gazebo.launch.py seed:=3
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

WORLD_SDF = '/tmp/groundfm_house.sdf'
GO2_MJCF = '/tmp/groundfm_go2.xml'
GO2_SDF = '/tmp/groundfm_go2.sdf'


def _bring_up(context) -> list:
    seed = LaunchConfiguration('seed').perform(context)
    generate = ExecuteProcess(cmd=['python3', '-m', 'groundfm.sim.gazebo', '--seed', seed, '--out', WORLD_SDF,
                                   '--robot-uri', GO2_SDF, '--robot-mjcf-out', GO2_MJCF], output='screen')
    convert = ExecuteProcess(cmd=['mjcf2sdf', GO2_MJCF, GO2_SDF], output='screen')
    gz_sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource([FindPackageShare('ros_gz_sim'), '/launch/gz_sim.launch.py']),
        launch_arguments={'gz_args': f'-r {WORLD_SDF}'}.items())
    # Gazebo's default sensor topics; mjcf2sdf names the link after the MJCF body ('base') and the sensors after
    # the MJCF cameras.
    prefix = f'/world/groundfm_house_{seed}/model/go2/link/base/sensor'
    bridges, remaps = ['/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock',
                       'odom@nav_msgs/msg/Odometry[gz.msgs.Odometry',
                       'joint_states@sensor_msgs/msg/JointState[gz.msgs.Model'], []
    for side in ('left', 'right'):
        gz_topic = f'{prefix}/stereo_{side}'
        bridges += [f'{gz_topic}/image@sensor_msgs/msg/Image[gz.msgs.Image',
                    f'{gz_topic}/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo']
        remaps += [(f'{gz_topic}/image', f'stereo/{side}/image_rect'),
                   (f'{gz_topic}/camera_info', f'stereo/{side}/camera_info')]
    bridge = Node(package='ros_gz_bridge', executable='parameter_bridge', arguments=bridges, remappings=remaps,
                  parameters=[{'use_sim_time': True}], output='screen')
    return [
        generate,
        RegisterEventHandler(OnProcessExit(target_action=generate, on_exit=[convert])),
        RegisterEventHandler(OnProcessExit(target_action=convert, on_exit=[gz_sim, bridge])),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('seed', default_value='0', description='House layout seed'),
        OpaqueFunction(function=_bring_up),
    ])
