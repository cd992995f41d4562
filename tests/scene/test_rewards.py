import math

import numpy as np
import pytest

from groundfm.scene.rewards import (
    Box3D,
    box_iou,
    format_reward,
    group_advantages,
    perception_reward,
    reference_box_iou,
    semantic_reward,
)


def test_format_reward_is_one_only_for_the_exact_format():
    assert format_reward('<think>two chairs seen</think><answer>2</answer>') == 1.0
    assert format_reward('  <think>a\nb</think>\n<answer>yes</answer>\n') == 1.0
    assert format_reward('<answer>2</answer>') == 0.0
    assert format_reward('<think>x</think>') == 0.0
    assert format_reward('<think>x</think><answer>2</answer> trailing') == 0.0
    assert format_reward('<think></think><answer>2</answer>') == 0.0
    assert format_reward('') == 0.0


def test_axis_aligned_iou_of_known_boxes():
    a = Box3D((0, 0, 0.5), (2, 2, 1))
    b = Box3D((1, 0, 0.5), (2, 2, 1))  # half overlapping along x

    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, b) == pytest.approx(2 / 6)
    assert box_iou(a, Box3D((5, 0, 0.5), (2, 2, 1))) == 0.0
    assert box_iou(a, Box3D((0, 0, 0.75), (2, 2, 0.5))) == pytest.approx(0.5)  # upper half only


def test_quarter_turn_of_a_square_box_is_the_same_box():
    a = Box3D((1, 2, 0.5), (1, 1, 1), 0.0)
    assert box_iou(a, Box3D((1, 2, 0.5), (1, 1, 1), math.pi / 2)) == pytest.approx(1.0)


def test_rotated_iou_matches_its_monte_carlo_twin():
    pairs = [
        (Box3D((0, 0, 0.5), (2, 1, 1), 0.3), Box3D((0.4, 0.2, 0.6), (1.5, 1.2, 0.8), -0.5)),
        (Box3D((0, 0, 0.5), (2, 2, 1), math.pi / 4), Box3D((0, 0, 0.5), (2, 2, 1), 0.0)),
    ]
    for a, b in pairs:
        assert box_iou(a, b) == pytest.approx(reference_box_iou(a, b), abs=0.01)
        assert box_iou(a, b) == pytest.approx(box_iou(b, a))
    # A square and itself turned 45 degrees: intersection is the regular octagon 8 (sqrt2 - 1) for side 2.
    octagon = 8 * (math.sqrt(2) - 1)
    assert box_iou(*pairs[1]) == pytest.approx(octagon / (8 - octagon), rel=1e-6)


def test_perception_reward_uses_the_first_box():
    target = Box3D((0, 0, 0.5), (1, 1, 1))
    assert perception_reward([target, Box3D((9, 9, 9), (1, 1, 1))], target) == pytest.approx(1.0)
    assert perception_reward([], target) == 0.0
    assert perception_reward([], None) == 1.0


def test_box_rejects_bad_values():
    with pytest.raises(ValueError, match='size'):
        Box3D((0, 0, 0), (1, -1, 1))
    with pytest.raises(ValueError, match='finite'):
        Box3D((0, float('nan'), 0), (1, 1, 1))


def test_semantic_similarity_orders_paraphrase_above_unrelated(grounder):
    enc = grounder.encoder
    same = semantic_reward('There are two chairs in the kitchen.', 'The kitchen has 2 chairs.', enc)
    other = semantic_reward('There are two chairs in the kitchen.', 'The sofa is red.', enc)
    assert same > other
    assert semantic_reward('the couch is red', 'the couch is red', enc) == pytest.approx(1.0, abs=1e-5)
    assert semantic_reward('', 'x', enc) == 0.0


def test_group_advantages_are_standardised():
    adv = group_advantages([1.0, 2.0, 3.0, 2.0])
    assert adv.mean() == pytest.approx(0.0, abs=1e-9)
    assert adv.std() == pytest.approx(1.0, abs=1e-4)
    assert np.argmax(adv) == 2
    with pytest.raises(ValueError, match='non-empty'):
        group_advantages([])
