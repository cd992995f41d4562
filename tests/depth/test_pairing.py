"""StampPairer: pairs by stamp within the slop, keeps only the newest complete set, never waits forever."""

import threading

import pytest

from groundfm.depth.pairing import IMAGE_STREAMS, STREAMS, StampPairer


def _feed(pairer: StampPairer, stamp: float, skip: tuple[str, ...] = (), jitter: float = 0.0) -> None:
    for stream in STREAMS:
        if stream not in skip:
            pairer.add(stream, stamp + (jitter if stream == 'right' else 0.0), (stream, stamp))


def test_pairs_within_the_slop_only():
    pairer = StampPairer(slop_s=0.005)

    _feed(pairer, 1.0, jitter=0.003)
    first = pairer.take(timeout=0.01)
    _feed(pairer, 2.0, jitter=0.05)

    assert first is not None and first.stamp == 1.0 and first.right == ('right', 1.0)
    assert pairer.take(timeout=0.01) is None, 'a right image 50 ms off must not pair'


def test_a_slow_consumer_gets_the_newest_set_and_stale_ones_are_dropped():
    pairer = StampPairer()
    for k in range(5):
        _feed(pairer, 10.0 + k)

    newest = pairer.take(timeout=0.01)

    assert newest.stamp == 14.0 and newest.left_info == ('left_info', 14.0)
    assert pairer.paired == 5 and pairer.dropped == 4
    assert pairer.take(timeout=0.01) is None


def test_incomplete_sets_wait_and_out_of_order_arrival_pairs():
    pairer = StampPairer()
    _feed(pairer, 3.0, skip=('right_info',))
    assert pairer.take(timeout=0.01) is None

    pairer.add('right_info', 3.0, ('right_info', 3.0))

    assert pairer.take(timeout=0.01).stamp == 3.0
    with pytest.raises(ValueError, match='unknown stream'):
        pairer.add('depth', 1.0, None)


def test_close_wakes_a_waiting_consumer():
    pairer = StampPairer()
    got = []
    thread = threading.Thread(target=lambda: got.append(pairer.take(timeout=10.0)))
    thread.start()

    pairer.close()
    thread.join(timeout=2.0)

    assert not thread.is_alive() and got == [None]


def test_image_streams_pair_without_infos_and_other_stream_sets_are_refused():
    pairer = StampPairer(streams=IMAGE_STREAMS)
    pairer.add('left', 3.0, 'L')
    assert pairer.take(timeout=0) is None
    pairer.add('right', 3.002, 'R')
    pair = pairer.take(timeout=0)
    assert (pair.stamp, pair.left, pair.right, pair.left_info) == (3.0, 'L', 'R', None)
    with pytest.raises(ValueError, match='unknown stream'):
        pairer.add('left_info', 3.0, 'info')
    with pytest.raises(ValueError, match='streams must be'):
        StampPairer(streams=('left', 'left_info'))
