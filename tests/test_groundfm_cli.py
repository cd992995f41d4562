"""The `groundfm` entry point: every verb has --help, unlanded capabilities say so, and the demo runs end to end."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from groundfm.cli import VERBS, build_parser


def _groundfm(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'groundfm.cli', *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize('verb', list(VERBS))
def test_every_verb_has_help(verb):
    result = _groundfm(verb, '--help')

    assert result.returncode == 0, result.stderr
    assert 'usage: groundfm ' + verb in result.stdout


def test_nested_verbs_have_help():
    parser = build_parser()
    for argv in (['topic', 'echo', '--help'], ['topic', 'hz', '--help'], ['bench', 'sim', '--help']):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 0


def test_clients_say_plainly_when_their_server_is_missing(ros_domain):
    nav = _groundfm('navigate', 'go to the kitchen', '--wait', '1')
    ask = _groundfm('ask', 'where is the sofa?', '--wait', '1')

    assert nav.returncode == 1 and 'no Navigate action server' in nav.stderr and 'groundfm launch' in nav.stderr
    assert ask.returncode == 1 and 'no AskScene service' in ask.stderr and 'groundfm launch' in ask.stderr
    assert _groundfm('navigate', '  ').returncode == 2


def test_ctrl_c_on_navigate_cancels_the_goal(ros_domain):
    from rclpy.action import ActionServer, CancelResponse
    from rclpy.task import Future

    from groundfm.ros.background import BackgroundNode
    from groundfm_interfaces.action import Navigate

    server = BackgroundNode('fake_navigation', domain_id=ros_domain)
    executing, cancel_requested = threading.Event(), Future()

    async def execute(goal_handle):
        executing.set()
        goal_handle.publish_feedback(Navigate.Feedback(phase='walking', current_subgoal='kitchen',
                                                       distance_remaining=3.0))
        await cancel_requested  # lets the executor take the cancel request meanwhile
        goal_handle.canceled()
        return Navigate.Result(success=False, message='cancelled')

    def on_cancel(goal_handle):
        cancel_requested.set_result(True)
        return CancelResponse.ACCEPT

    ActionServer(server.node, Navigate, 'navigate', execute_callback=execute, cancel_callback=on_cancel)
    proc = subprocess.Popen([sys.executable, '-m', 'groundfm.cli', 'navigate', 'go to the kitchen', '--wait', '30'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert executing.wait(40), 'the goal never reached the server'
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()

    assert cancel_requested.done(), (out, err)
    assert proc.returncode == 130 and 'goal cancelled' in out, (proc.returncode, out, err)


def test_demo_walks_to_the_instructed_room_and_writes_a_report(ros_domain, tmp_path):
    result = _groundfm('demo', '--out', str(tmp_path), '--instruction', 'go to the kitchen', timeout=400)

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['ok'] and 0.25 <= report['base_height_m'] <= 0.35
    assert report['navigation']['success'] and 'kitchen' in report['navigation']['message']
    # The real pipeline, not the ground-truth stand-ins: the live map, mapping's objects, the depth node's depth.
    assert report['navigation']['inputs'].startswith('map: map/occupancy; objects: map/objects'), report['navigation']
    assert report['navigation']['inputs'].endswith('depth: depth/image')
    assert 'ground truth' not in report['navigation']['inputs']
    assert report['odometry_path_m'] > 1.0, 'the robot must actually walk'
    assert report['scene_qa']['success'] and report['scene_qa']['answer']
    assert report['rates_hz']['stereo/left/image_rect'] == pytest.approx(10.0, rel=0.2)
    assert len(report['house']['rooms']) >= 3
    for name in ('topdown.png', 'stereo.png'):
        assert (tmp_path / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
