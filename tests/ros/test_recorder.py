"""`groundfm record` writes a rosbag2/MCAP folder that rosbags and the mcap library read back."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:  # tests/ros is on sys.path (pytest's default import mode) ...
    from test_topic_tools import JOINTS, TOPICS, Talker
except ImportError:  # ... or a package
    from .test_topic_tools import JOINTS, TOPICS, Talker


@pytest.fixture
def talker(rclpy_context):
    """A running Talker on the test's domain."""
    t = Talker(rclpy_context)
    yield t
    t.close()


def read_bag(path: Path) -> dict[str, list]:
    """Topic -> deserialised messages of a rosbag2 folder, via rosbags' Reader."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from groundfm.ros.recorder import ensure_type

    store = get_typestore(Stores.ROS2_KILTED)
    out: dict[str, list] = {}
    with Reader(path) as reader:
        for conn in reader.connections:
            ensure_type(store, conn.msgtype)
            out[conn.topic] = []
        for conn, _, raw in reader.messages():
            out[conn.topic].append(store.deserialize_cdr(raw, conn.msgtype))
    return out


def test_record_api_writes_a_readable_mcap_bag(talker, tmp_path):
    from mcap.reader import make_reader

    from groundfm.ros.recorder import record

    out = tmp_path / 'bag'
    summary = record(list(TOPICS), out, duration_s=2.5)

    assert summary.path == out and (out / 'metadata.yaml').is_file()
    assert not (tmp_path / 'bag.partial').exists()
    assert summary.types == TOPICS
    msgs = read_bag(out)
    # Discovery takes a few hundred ms of the 2.5 s: expect >= 80 % of 2 s worth.
    assert len(msgs['/chatter']) >= 0.8 * 20 * 2 and len(msgs['/camera/image']) >= 0.8 * 10 * 2
    assert len(msgs['/joint_command']) >= 0.8 * 10 * 2
    assert summary.counts == {t: len(m) for t, m in msgs.items()}
    image = msgs['/camera/image'][-1]
    assert (image.width, image.height, image.encoding, len(image.data)) == (320, 240, 'rgb8', 320 * 240 * 3)
    assert msgs['/joint_command'][0].name == JOINTS
    assert msgs['/chatter'][0].data.startswith('hello ')
    mcap_files = list(out.glob('*.mcap'))
    assert len(mcap_files) == 1
    with mcap_files[0].open('rb') as f:
        summary_section = make_reader(f).get_summary()
    schemas = {s.name: s for s in summary_section.schemas.values()}
    assert set(schemas) == set(TOPICS.values())
    assert all(s.encoding == 'ros2msg' for s in schemas.values())
    assert b'MSG: std_msgs/Header' in schemas['groundfm_interfaces/msg/JointCommand'].data
    assert {c.message_encoding for c in summary_section.channels.values()} == {'cdr'}


def test_custom_types_register_with_their_dependencies():
    from rosbags.typesys import Stores, get_typestore

    from groundfm.ros.recorder import message_definition

    store = get_typestore(Stores.ROS2_KILTED)
    msgdef, rihs01 = message_definition(store, 'groundfm_interfaces/msg/Object3DArray')

    assert 'groundfm_interfaces/msg/Object3D' in store.fielddefs
    assert 'MSG: groundfm_interfaces/Object3D' in msgdef and rihs01.startswith('RIHS01_')
    with pytest.raises(ValueError, match='nosuch_msgs/msg/Thing'):
        message_definition(store, 'nosuch_msgs/msg/Thing')


def test_existing_output_is_refused(tmp_path):
    from groundfm.ros.recorder import record

    (tmp_path / 'bag').mkdir()
    with pytest.raises(FileExistsError, match='exists already'):
        record(['/chatter'], tmp_path / 'bag', 1.0)


def test_sigint_ends_an_all_topics_recording_cleanly(talker, tmp_path):
    out = tmp_path / 'run'
    proc = subprocess.Popen([sys.executable, '-m', 'groundfm.ros.recorder', '-o', str(out), '--all',
                             '--exclude', '^/(rosout|parameter_events)$'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    # Discovery takes a variable time on a loaded machine: wait for the recorder to say it subscribed to every topic
    # (its log goes to stderr), then for at least 25 more chatter messages (20 Hz).
    log: list[str] = []
    deadline = time.monotonic() + 30
    while not all(f'recording {topic} ' in ''.join(log) for topic in TOPICS) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
    published = talker.count
    while talker.count < published + 25 and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    assert (tmp_path / 'run.partial').exists() and not out.exists()  # still recording: only the .partial exists

    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    stderr = ''.join(log) + stderr

    assert proc.returncode == 0, stderr
    assert not (tmp_path / 'run.partial').exists() and (out / 'metadata.yaml').is_file()
    msgs = read_bag(out)
    assert set(msgs) == set(TOPICS)
    assert len(msgs['/chatter']) >= 20
    assert '/camera/image' in stdout and 'MiB' in stdout


def test_a_killed_recording_leaves_only_the_partial(talker, tmp_path):
    out = tmp_path / 'crash'
    proc = subprocess.Popen([sys.executable, '-m', 'groundfm.ros.recorder', '-o', str(out), '/chatter'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 30
    while not (tmp_path / 'crash.partial').exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)

    proc.kill()
    proc.wait(timeout=10)

    assert not out.exists()
    assert list((tmp_path / 'crash.partial' / 'crash').glob('*.mcap'))
