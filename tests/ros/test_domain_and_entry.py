"""Domain leases across processes, and the one node entry point (exit codes, destroy on Ctrl-C, one-line errors)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from groundfm.ros import domain as domains

HOLD_LEASE = textwrap.dedent('''
    import sys, time
    from groundfm.ros.domain import lease_domain_id
    print(lease_domain_id(range(int(sys.argv[1]), int(sys.argv[2]))), flush=True)
    time.sleep(60)
''')


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    """Leases in a private lock folder, for this process and the ones it starts."""
    monkeypatch.setattr(domains, 'LOCK_DIR', tmp_path)
    monkeypatch.setenv('GROUNDFM_DOMAIN_LOCK_DIR', str(tmp_path))
    monkeypatch.setattr(domains, '_held', {})
    monkeypatch.setattr(domains, '_cursors', {})
    return tmp_path


def _holder(first: int, end: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, '-c', HOLD_LEASE, str(first), str(end)], stdout=subprocess.PIPE,
                            text=True)
    return proc, int(proc.stdout.readline())


def test_a_domain_held_by_another_process_is_never_leased(lock_dir):
    other, taken = _holder(50, 53)  # the other process holds one of 50, 51, 52
    try:
        mine = {domains.lease_domain_id(range(50, 53)) for _ in range(6)}  # two laps round the candidates
        assert taken not in mine
        assert mine == set(range(50, 53)) - {taken}
    finally:
        other.kill()
        other.wait()
    assert taken in {domains.lease_domain_id(range(50, 53)) for _ in range(3)}, 'a dead process keeps no lease'


def test_successive_leases_go_round_before_reusing_and_fail_when_all_are_taken(lock_dir):
    first = [domains.lease_domain_id(range(60, 64)) for _ in range(4)]
    assert sorted(first) == [60, 61, 62, 63]
    assert [domains.lease_domain_id(range(60, 64)) for _ in range(4)] == first  # the next lap recycles in order
    for domain in first:
        domains.release_domain_id(domain)
    holders = [_holder(70, 72), _holder(70, 72)]
    try:
        with pytest.raises(RuntimeError, match='no free ROS domain id'):
            domains.lease_domain_id(range(70, 72))
    finally:
        for proc, _ in holders:
            proc.kill()
            proc.wait()


NODE_SCRIPT = textwrap.dedent('''
    import sys
    import threading
    import time
    from groundfm.ros.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from groundfm.ros.entry import run_node

    class Demo(Node):
        def __init__(self):
            super().__init__('demo')
            if sys.argv[1] == 'bad':
                raise ValueError('max_disparity must be positive')
            if sys.argv[1] == 'good':
                self.create_timer(0.05, lambda: print('spinning', flush=True))
            elif sys.argv[1] == 'shutdown-behind':  # what rclpy's signal thread does after waking the executors
                threading.Timer(0.5, self.context.handle.shutdown).start()
            else:  # a callback that runs for 1.5 s ('busy') or forever ('hung') in Python bytecode
                self.create_timer(0.05, self.work)

        def work(self):
            print('working', flush=True)
            start = time.monotonic()
            while sys.argv[1] == 'hung' or time.monotonic() - start < 1.5:
                pass
            print('callback finished', flush=True)

        def destroy_node(self):
            print('destroyed', flush=True)
            super().destroy_node()

    executor = MultiThreadedExecutor if sys.argv[2:] == ['multi-threaded'] else None
    sys.exit(run_node('demo', Demo, executor=executor, before_destroy=lambda node: print('stopping', flush=True)))
''')


def test_run_node_exits_0_on_ctrl_c_after_destroying_the_node(ros_domain):
    proc = subprocess.Popen([sys.executable, '-c', NODE_SCRIPT, 'good'], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'spinning'
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = out.split()
    assert lines.index('stopping') < lines.index('destroyed')


@pytest.mark.parametrize('executor', ['single-threaded', 'multi-threaded'])
def test_a_context_shut_down_without_waking_the_executor_still_ends_the_spin(ros_domain, executor):
    # CI, scene node: Ctrl-C woke the executor, which found the context still up and went back to an unbounded
    # wait; rclpy's signal thread then shut the context down without waking it again, and the node hung.
    proc = subprocess.Popen([sys.executable, '-c', NODE_SCRIPT, 'shutdown-behind', executor], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail('the node kept spinning after its context was shut down')
    assert proc.returncode == 0, err
    assert out.split() == ['stopping', 'destroyed']


def _node_with_default_sigint(mode: str) -> subprocess.Popen:
    """The demo node with SIGINT at its default disposition, as from a terminal (a background job ignores it)."""
    return subprocess.Popen([sys.executable, '-c', NODE_SCRIPT, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_lets_the_running_callback_finish_then_exits_0(ros_domain):
    # A KeyboardInterrupt inside rclpy's message conversion came out as "RuntimeError: Unable to convert call
    # argument '0'" and exit code 1 (CI, mapping node): the first Ctrl-C must not raise into running code.
    proc = _node_with_default_sigint('busy')
    assert proc.stdout.readline().strip() == 'working'
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.split('\n')[0] == 'callback finished', (out, err)
    assert 'Traceback' not in err, err


def test_a_second_ctrl_c_interrupts_a_hung_callback(ros_domain):
    proc = _node_with_default_sigint('hung')
    assert proc.stdout.readline().strip() == 'working'
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None, 'the first Ctrl-C waits for the callback'
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert 'callback finished' not in out


def test_run_node_reports_a_constructor_error_in_one_line_and_exits_1(ros_domain):
    result = subprocess.run([sys.executable, '-c', NODE_SCRIPT, 'bad'], capture_output=True, text=True, timeout=30,
                            env=dict(os.environ))
    assert result.returncode == 1
    assert result.stderr.strip() == '[demo] error: ValueError: max_disparity must be positive'
