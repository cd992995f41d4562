"""groundfm launch: launch_ros command lines, checks before start, and real process supervision (no ROS launch here)."""

import os
import re
import shlex
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from groundfm.ros.launch_compat.ros import find_executable, package_share
from groundfm.ros.launcher import main, start_launch

HEADER = '''\
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
'''

TALKER = '''\
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String

try:
    with rclpy.init(args=sys.argv):
        node = rclpy.create_node('talker')
        greeting = node.declare_parameter('greeting', 'unset').value
        publisher = node.create_publisher(String, 'chatter', 10)
        node.create_timer(0.1, lambda: publisher.publish(String(data=greeting)))
        rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
'''

LISTENER = '''\
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String

try:
    with rclpy.init(args=sys.argv):
        node = rclpy.create_node('listener')
        heard = []

        def on_message(msg):
            if not heard:
                print(f'heard {msg.data} as {node.get_fully_qualified_name()}', flush=True)
            heard.append(msg)

        node.create_subscription(String, 'chat', on_message, 10)
        rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
'''


@pytest.fixture(autouse=True)
def _params_files_in_tmp_path(tmp_path, monkeypatch):
    """Dict parameters go to temporary files that `--print` leaves for the printed command (as launch_ros does): keep
    them in the test's own folder."""
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))


def script(tmp_path: Path, name: str, body: str) -> str:
    """An executable Python script in tmp_path, run by this interpreter; returns its path."""
    path = tmp_path / name
    path.write_text(f'#!{sys.executable}\n{body}')
    path.chmod(0o755)
    return str(path)


def launch_file(tmp_path: Path, actions: str) -> str:
    """A .launch.py in tmp_path returning LaunchDescription([actions])."""
    path = tmp_path / 'test.launch.py'
    path.write_text(HEADER + textwrap.indent(f'return LaunchDescription([\n{actions}\n])\n', '    '))
    return str(path)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, IndexError):
        return False


def printed_command(capsys, *argv: str) -> list[str]:
    """The one command line `--print` shows for a launch with a single process."""
    assert main([*argv, '--print']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    label, _, command = lines[0].partition('] ')
    return shlex.split(command)


CAPABILITIES_OFF = tuple(f'{name}:=false' for name in ('depth', 'mapping', 'scene', 'navigation', 'control'))


def test_print_gives_the_sim_the_launch_ros_command_line(capsys):
    cmd = printed_command(capsys, 'robot_dog', *CAPABILITIES_OFF)

    ros_args = cmd[cmd.index('--ros-args'):]
    params = Path(package_share('groundfm')) / 'config' / 'robot_dog.yaml'
    assert ros_args[:7] == ['--ros-args', '-r', '__node:=sim', '-r', '__ns:=/', '--params-file', str(params)]
    assert ros_args[7] == '--params-file' and len(ros_args) == 9
    assert Path(ros_args[8]).name.startswith('launch_params_')
    assert yaml.safe_load(Path(ros_args[8]).read_text()) == {
        '/sim': {'ros__parameters': {'use_sim_time': False, 'scene_seed': 0}}}
    assert 'groundfm.sim.node' in ' '.join(cmd[:cmd.index('--ros-args')]) or cmd[0].endswith('/lib/groundfm/sim_node')
    Path(ros_args[8]).unlink()
    with pytest.raises(ImportError):  # the stand-in is gone again
        from launch import LaunchDescription  # noqa: F401


def test_arguments_reach_namespace_and_dict_parameters(capsys):
    cmd = printed_command(capsys, 'groundfm', 'robot_dog.launch.py', 'namespace:=dog1', 'scene_seed:=7',
                          *CAPABILITIES_OFF)

    assert cmd[cmd.index('__ns:=/dog1') - 1] == '-r'
    temp = Path(cmd[-1])
    assert yaml.safe_load(temp.read_text()) == {'/dog1/sim': {'ros__parameters': {'use_sim_time': False,
                                                                                 'scene_seed': 7}}}
    temp.unlink()


def test_sim_false_starts_only_the_capability_nodes(capsys):
    assert main(['robot_dog', 'sim:=false', '--print']) == 0
    started = [line.split(']')[0].lstrip('[') for line in capsys.readouterr().out.splitlines()]
    assert not any(name.startswith('sim_node') for name in started)
    assert main(['robot_dog', 'sim:=false', *CAPABILITIES_OFF, '--print']) == 0
    assert capsys.readouterr().out == ''


def test_show_args_lists_every_argument_with_its_default(capsys):
    assert main(['robot_dog', '--show-args']) == 0

    out = capsys.readouterr().out
    for name in ('use_sim_time', 'sim', 'params_file', 'namespace', 'scene_seed', 'depth', 'mapping', 'scene',
                 'navigation', 'control'):
        assert f"'{name}':" in out
    assert "(default: PathJoin('FindPackageShare(pkg='groundfm') + 'config' + 'robot_dog.yaml''))" in out


@pytest.mark.parametrize(('argv', 'message'), [
    (['robot_dog', 'scene_sed:=3'], r'unknown launch argument\(s\) scene_sed'),
    (['robot_dog', 'depth:=yes'], r'depth:=yes is not valid; choose one of: true, false'),
    (['robot_dog', 'scene_seed'], r"malformed launch argument 'scene_seed'"),
    (['robot_dog', 'scene_seed:=abc'], r'scene_seed: expected int, got str'),
    (['robot_dog', 'params_file:=/nonexistent.yaml'], r'parameter file /nonexistent.yaml does not exist'),
    (['no_such_launch'], r"no launch file 'no_such_launch.launch.py'.*available: .*robot_dog"),
])
def test_bad_arguments_exit_2_before_starting_anything(capsys, argv, message):
    assert main([*argv, '--print']) == 2

    out, err = capsys.readouterr()
    assert out == ''
    assert err.startswith('groundfm launch: error:')
    assert re.search(message, err), err


@pytest.mark.parametrize(('content', 'message'), [
    ('sim:\n  ros__parameters:\n    num_rooms: [4\n    image_width: 3\n', r'params.yaml line 4: invalid YAML'),
    ('sim:\n  num_rooms: 4\n', r"'sim' needs 'ros__parameters:'"),
    ('sim:\n  ros__parameters:\n    num_room: 4\n', r'sim: num_room: unknown parameter \(did you mean num_rooms'),
    ('sim:\n  ros__parameters:\n    num_rooms: 99\n', r'sim: num_rooms: 99 is above the maximum 8'),
    ('/**:\n  ros__parameters:\n    use_sim_time: 1\n', r'/\*\*: use_sim_time: expected bool, got int'),
])
def test_parameter_files_are_checked_against_the_node_specs(capsys, tmp_path, content, message):
    params = tmp_path / 'params.yaml'
    params.write_text(content)

    assert main(['robot_dog', f'params_file:={params}', '--print']) == 2

    out, err = capsys.readouterr()
    assert out == ''
    assert re.search(message, err), err


def test_the_shipped_parameter_file_has_every_sim_default():
    from groundfm.sim.config import SimConfig

    values = yaml.safe_load((Path(package_share('groundfm')) / 'config' / 'robot_dog.yaml').read_text())
    assert values['sim']['ros__parameters'] == vars(SimConfig())


def test_conditions_expressions_and_remappings_follow_launch_semantics(capsys, tmp_path):
    path = tmp_path / 'extra.launch.py'
    path.write_text(textwrap.dedent('''\
        from launch import LaunchDescription
        from launch.actions import DeclareLaunchArgument
        from launch.conditions import IfCondition, UnlessCondition
        from launch.substitutions import LaunchConfiguration, PythonExpression
        from launch_ros.actions import Node


        def generate_launch_description():
            fast = LaunchConfiguration('fast')
            return LaunchDescription([
                DeclareLaunchArgument('fast', default_value='false'),
                Node(executable='sleep', arguments=['1'], name='slow', condition=UnlessCondition(fast),
                     remappings=[('in', 'camera/image')], ros_arguments=['--log-level', 'warn']),
                Node(executable='sleep', arguments=['0'], exec_name='quick',
                     parameters=[{'rate': PythonExpression(['2 * 5.0']), 'tags': ['a', 'b'], 'nested': {'k': 1}}],
                     condition=IfCondition(PythonExpression(["'", fast, "' == 'true'"]))),
            ])
    '''))

    assert main([str(path), '--print']) == 0
    assert capsys.readouterr().out.splitlines() == [
        '[sleep-1] sleep 1 --ros-args --log-level warn --ros-args -r __node:=slow -r in:=camera/image']

    assert main([str(path), 'fast:=true', '--print']) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('[quick-1] sleep 0 --ros-args --params-file ')
    temp = Path(line.split()[-1])
    assert yaml.safe_load(temp.read_text()) == {'/**': {'ros__parameters': {'rate': 10.0, 'tags': ['a', 'b'],
                                                                             'nested.k': 1}}}
    temp.unlink()


def test_an_error_in_the_launch_file_names_its_line(capsys, tmp_path):
    path = launch_file(tmp_path, "Node(executable='sleep', nmae='typo'),")

    assert main([path, '--print']) == 2
    err = capsys.readouterr().err
    assert re.search(r'test.launch.py:9: Node\(\) got unknown or unsupported argument\(s\) nmae', err), err


def test_executables_are_found_in_the_ament_prefix_before_entry_points(monkeypatch, tmp_path):
    prefix = tmp_path / 'install'
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'groundfm').touch()
    (prefix / 'lib' / 'groundfm').mkdir(parents=True)
    installed = script(prefix / 'lib' / 'groundfm', 'sim_node', 'print("colcon-installed")\n')
    monkeypatch.setenv('AMENT_PREFIX_PATH', f'{prefix}{os.pathsep}{os.environ.get("AMENT_PREFIX_PATH", "")}')

    assert find_executable('groundfm', 'sim_node') == [installed]
    assert find_executable('groundfm', 'groundfm')[1:3] == ['-c', 'import sys; from groundfm.cli import main; '
                                                                  'sys.exit(main())']


def test_missing_executable_is_named_with_a_fix(capsys, tmp_path):
    path = launch_file(tmp_path, "Node(package='groundfm', executable='warp_drive_node', name='warp'),")

    assert main([path, '--print']) == 2

    err = capsys.readouterr().err
    assert "executable 'warp_drive_node' of package 'groundfm' not found" in err


def test_two_rclpy_nodes_talk_and_ctrl_c_leaves_no_process(ros_domain, tmp_path):
    talker, listener = script(tmp_path, 'talker.py', TALKER), script(tmp_path, 'listener.py', LISTENER)
    path = launch_file(tmp_path, f'''\
DeclareLaunchArgument('greeting', default_value='hello'),
Node(executable='{talker}', name='talker', namespace='pair', output='screen',
     parameters=[{{'greeting': LaunchConfiguration('greeting')}}], remappings=[('chatter', 'chat')]),
Node(executable='{listener}', name='listener', namespace='pair', output='screen'),''')

    with start_launch(path, {'greeting': 'hi-there'}) as launch:
        pids = launch.wait_for_processes(['talker.py-1', 'listener.py-2'])
        deadline = time.monotonic() + 20
        while not any('heard' in line for line in launch.lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop_start = time.monotonic()
        code = launch.stop()
        stop_s = time.monotonic() - stop_start

    assert '[listener.py-2] heard hi-there as /pair/listener' in launch.lines, '\n'.join(launch.lines)
    assert code == 0
    assert stop_s < 10
    assert not any(alive(pid) for pid in pids.values())
    assert '[INFO] [talker.py-1]: process has finished cleanly [pid {}]'.format(pids['talker.py-1']) in launch.lines


def test_respawn_restarts_a_crashing_process_and_sigterm_stops_the_launch(tmp_path):
    crash = script(tmp_path, 'crash.py', 'import sys\nprint("crashing", flush=True)\nsys.exit(3)\n')
    path = launch_file(tmp_path, f"ExecuteProcess(cmd=['{crash}'], name='crash', respawn=True, respawn_delay=0.2),")

    launch = start_launch(path)
    deadline = time.monotonic() + 15
    while launch.starts.get('crash-1', 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(launch.pid, signal.SIGTERM)

    assert launch.wait(10) == 0
    assert launch.starts['crash-1'] >= 3
    assert any(line.startswith("[ERROR] [crash-1]: process has died [pid") and 'exit code 3' in line
               for line in launch.lines)
    assert '[crash-1] crashing' in launch.lines


def test_a_required_process_dying_ends_the_launch_with_an_error(tmp_path):
    failing = script(tmp_path, 'failing.py', 'import sys, time\ntime.sleep(0.5)\nsys.exit(4)\n')
    path = launch_file(tmp_path, f'''\
ExecuteProcess(cmd=['sleep', '60'], name='bystander'),
ExecuteProcess(cmd=['{failing}'], name='vital', on_exit=Shutdown()),''')

    launch = start_launch(path)
    bystander = launch.wait_for_processes(['bystander-1'])['bystander-1']

    assert launch.wait(15) == 1
    assert not alive(bystander)
    assert any('[vital-2]: process has died' in line and 'exit code 4' in line for line in launch.lines)


def test_a_process_ignoring_sigint_is_escalated_to_sigterm(tmp_path):
    stubborn = script(tmp_path, 'stubborn.py', 'import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n'
                                               'print("ready", flush=True)\ntime.sleep(60)\n')
    path = launch_file(tmp_path, f"ExecuteProcess(cmd=['{stubborn}'], name='stubborn'),")

    launch = start_launch(path, {'sigterm_timeout': '1'})
    pid = launch.wait_for_processes(['stubborn-1'])['stubborn-1']
    time.sleep(0.3)
    code = launch.stop()

    assert code == 0
    assert not alive(pid)
    assert any("escalating to 'SIGTERM'" in line for line in launch.lines)


def test_children_die_with_a_killed_launcher(tmp_path):
    path = launch_file(tmp_path, "ExecuteProcess(cmd=['sleep', '60'], name='orphan'),")

    launch = start_launch(path)
    pid = launch.wait_for_processes(['orphan-1'])['orphan-1']
    os.kill(launch.pid, signal.SIGKILL)
    launch.wait(5)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not alive(pid)


def test_robot_dog_brings_up_the_sim_and_ctrl_c_stops_it(ros_domain):
    with start_launch('robot_dog', {'scene_seed': '2'}) as launch:
        pid = launch.wait_for_processes(['sim_node-1'], timeout=30)['sim_node-1']
        deadline = time.monotonic() + 30
        while not any('house seed 2' in line for line in launch.lines) and time.monotonic() < deadline:
            assert launch.poll() is None, '\n'.join(launch.lines)
            time.sleep(0.1)
        code = launch.stop()

    assert any(line.startswith('[sim_node-1] ') and 'house seed 2' in line for line in launch.lines), launch.lines
    assert code == 0
    assert not alive(pid)
    assert not any(line.startswith('[ERROR] [sim_node-1]:') for line in launch.lines), launch.lines  # no crash
