"""The QA benchmark's question generator and scorer (fast), and one dev house end to end (slow)."""

import argparse

import numpy as np
import pytest

from groundfm.bench.qa import DEV_SEEDS, HELD_OUT_SEEDS, GTQuestion, generate_questions, score
from groundfm.sim.house import generate_house


def test_questions_cover_every_type_with_ground_truth_answers():
    house = generate_house(3)

    qs = generate_questions(house, 6, np.random.default_rng(0))

    assert {q.qtype for q in qs} == {'existence', 'counting', 'attribute_color', 'attribute_size', 'spatial', 'room',
                                     'distance', 'where'}
    for q in qs:
        if q.qtype == 'counting' and 'are there' in q.text:
            label = q.text.split()[2][:-1]
            assert q.truth == sum(o.label == label or o.label + 'e' == label for o in house.objects)
    assert qs == generate_questions(house, 6, np.random.default_rng(0))  # seeded
    assert not set(DEV_SEEDS) & set(HELD_OUT_SEEDS)


@pytest.mark.parametrize(('question', 'answer', 'ok'), [
    (GTQuestion('existence', '', True), 'Yes, the red chair.', True),
    (GTQuestion('existence', '', True), 'No, I have not seen any.', False),
    (GTQuestion('counting', '', 2), 'There are 2 chairs.', True),
    (GTQuestion('counting', '', 2), 'There are 3 chairs.', False),
    (GTQuestion('attribute_color', '', 'red'), 'The chair is red.', True),
    (GTQuestion('attribute_color', '', 'red'), 'The chairs are red and blue.', False),
    (GTQuestion('attribute_size', '', ('tall', 1.8)), 'about 0.70 m long, 0.70 m wide and 1.72 m tall.', True),
    (GTQuestion('attribute_size', '', ('tall', 1.8)), 'about 0.70 m long, 0.70 m wide and 1.20 m tall.', False),
    (GTQuestion('spatial', '', 'sofa'), 'The closest object to the lamp is the red couch.', True),
    (GTQuestion('spatial', '', 'sofa'), 'The closest object to the sofa is the lamp.', False),
    (GTQuestion('room', '', 'bedroom'), 'The bed is in the bedroom.', True),
    (GTQuestion('room', '', 'bedroom'), 'The bed is in the bedroom 2.', False),
    (GTQuestion('distance', '', 3.0), 'about 3.30 m from the sofa', True),
    (GTQuestion('distance', '', 3.0), 'about 4.00 m from the sofa', False),
    (GTQuestion('where', '', ('kitchen', (7.0, 2.0))), 'The red chair is in the kitchen at (7.3, 2.1).', True),
    (GTQuestion('where', '', ('kitchen', (7.0, 2.0))), 'The red chair is in the kitchen at (9.0, 2.1).', False),
    (GTQuestion('where', '', ('kitchen', (7.0, 2.0))), "I don't know: not seen.", False),
])
def test_scoring_reads_the_answer_text(question, answer, ok):
    assert score(question, answer) is ok


@pytest.mark.slow
def test_one_dev_house_end_to_end():
    from groundfm.bench.qa import add_arguments, run

    parser = argparse.ArgumentParser()
    parser.add_argument('--seeds', type=int, nargs='+')
    add_arguments(parser)
    args = parser.parse_args(['--seeds', '0', '--views-per-spot', '6', '--questions-per-type', '4'])

    metrics = run(args)['sim_dev']['groundfm']

    assert metrics['accuracy'] >= 0.85 and metrics['acc_at_025'] >= 0.8
    assert metrics['latency_ms'] < 1000.0
