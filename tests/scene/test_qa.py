import pytest
from conftest import ROBOT_POSE

from groundfm.scene.graph import SceneGraph
from groundfm.scene.qa import IDK, GraphBackend, QAEngine, parse_output, parse_question
from groundfm.scene.rewards import format_reward


@pytest.fixture
def engine(grounder):
    return QAEngine(GraphBackend(grounder))


@pytest.mark.parametrize(('question', 'qtype', 'must_contain', 'box_ids'), [
    ('How many chairs are there?', 'counting', 'There are 2 chairs', [3, 4]),
    ('How many chairs are in the kitchen?', 'counting', 'There is 1 chair in the kitchen', [4]),
    ('How many bathtubs are there?', 'counting', 'There are 0 bathtubs', []),
    ('Is there a couch?', 'existence', 'Yes', [1]),
    ('Is there a fridge in the bedroom?', 'existence', 'No', []),
    ('What colour is the couch?', 'attribute_color', 'is red', [1]),
    ('What color is the chair in the kitchen?', 'attribute_color', 'is red', [4]),
    ('How tall is the refrigerator?', 'attribute_size', '1.80 m tall', [5]),
    ('Which room is the fridge in?', 'room', 'in the kitchen', [5]),
    ('Is the bed in the bedroom?', 'room', 'Yes', [7]),
    ('Is the sofa in the kitchen?', 'room', 'No', [1]),
    ('How far is the sofa from the fridge?', 'distance', '7.16 m', [1, 5]),
    ('How far away is the lamp?', 'distance', '1.58 m from me', [6]),
    ('Where is the red chair?', 'where', 'in the kitchen', [4]),
    ('What is next to the table?', 'spatial', 'blue chair', [3, 1]),
    ('What is the closest object to the sofa?', 'spatial', 'table', [1, 2]),
    ('What is the nearest object to me?', 'spatial', 'table', [2]),
    ('Is the chair left of the table?', 'spatial', 'Yes', [3]),
    ('What is on the bed?', 'spatial', 'box', [8]),
])
def test_each_question_type_on_a_known_scene(engine, graph, question, qtype, must_contain, box_ids):
    result = engine.answer(question, graph, ROBOT_POSE)

    assert result.success and result.qtype == qtype
    assert must_contain in result.answer, result.raw_output
    assert [b.id for b in result.boxes] == box_ids
    assert format_reward(result.raw_output) == 1.0
    assert result.reasoning.startswith('Step 1:')
    assert '[obj' not in result.answer  # tags become boxes, not text
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize(('question', 'reason'), [
    ('What is the weather like?', 'cannot parse'),
    ('Where is the giraffe?', 'no object class'),
    ('Where is the television?', 'not seen'),
    ('How many chairs are in the garage?', 'no room called'),
    ('How tall is the chair?', 'ambiguous'),
])
def test_unanswerable_questions_say_i_do_not_know(engine, graph, question, reason):
    result = engine.answer(question, graph, ROBOT_POSE)

    assert result.success and result.answer.startswith(IDK) and reason in result.answer
    assert result.confidence == 0.0
    assert len(result.boxes) == (2 if reason == 'ambiguous' else 0)  # the candidates of an ambiguous reference
    assert format_reward(result.raw_output) == 1.0


def test_left_right_without_a_robot_pose_is_unknown(engine, graph):
    result = engine.answer('Is the chair left of the table?', graph, None)
    assert result.answer.startswith(IDK) and 'pose' in result.answer


def test_empty_graph_and_bad_requests(engine):
    assert engine.answer('Where is the sofa?', SceneGraph()).answer.startswith(IDK)
    assert not engine.answer('', SceneGraph()).success
    long = engine.answer('where ' * 200, SceneGraph())
    assert not long.success and 'limit' in long.message


def test_parse_output_tolerates_garbage():
    good = parse_output('<think>Step 1: look.</think><answer>The sofa [obj 3] is red.</answer>')
    assert good.well_formed and good.answer == 'The sofa is red.' and good.object_ids == [3]
    half = parse_output('<think>thinking <answer>two [obj 4]')
    assert not half.well_formed and half.answer == 'two' and half.object_ids == [4]
    for junk in ('', 'random tokens ]]<<', '<answer></answer>', None):
        parsed = parse_output(junk)
        assert not parsed.well_formed and parsed.object_ids == []


def test_question_parser_types():
    assert parse_question('how many sofas do you see?').qtype == 'counting'
    assert parse_question('Which room is the bathtub in?').slots['ref'] == 'the bathtub'
    assert parse_question('What is the distance between the bed and the lamp?').slots == {'a': 'the bed',
                                                                                         'b': 'the lamp'}
    assert parse_question('sing me a song') is None
