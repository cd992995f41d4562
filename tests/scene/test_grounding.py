import pytest
from conftest import ROBOT_POSE

from groundfm.scene.grounding import parse_reference, resolve, singular


@pytest.mark.parametrize(('noun', 'label'), [
    ('sofa', 'sofa'), ('couch', 'sofa'), ('sofas', 'sofa'), ('couches', 'sofa'), ('refrigerator', 'fridge'),
    ('television', 'tv'), ('lounge chair', 'chair'), ('flower pot', 'plant'), ('bookcases', 'shelf'),
])
def test_synonyms_and_paraphrases_name_the_class(grounder, noun, label):
    labels = ['chair', 'table', 'sofa', 'bed', 'cabinet', 'shelf', 'plant', 'tv', 'fridge', 'lamp', 'box']
    assert grounder.match_class(noun, labels)[0][0] == label


def test_paraphrase_outside_the_synonym_lists_matches_through_embeddings(grounder):
    # Not in CLASS_ALIASES: only the MiniLM similarity can link them.
    best, score = grounder.match_class('sitting furniture for two', ['sofa', 'fridge', 'lamp', 'toilet'])[0]
    assert best == 'sofa' and 0.0 < score < 1.0


def test_unrelated_words_match_nothing(grounder):
    assert grounder.match_class('banana', ['chair', 'sofa', 'tv', 'lamp']) == []
    assert grounder.match_class('giraffe', ['chair', 'sofa', 'tv', 'lamp']) == []


def test_rooms_by_name_alias_and_ordinal(grounder, graph):
    assert grounder.match_room('the kitchen', graph) == ['kitchen']
    assert grounder.match_room('lounge', graph) == ['living_room']
    assert grounder.match_room('bedroom 2', graph) == ['bedroom_2']
    assert grounder.match_room('second bedroom', graph) == ['bedroom_2']
    assert grounder.match_room('bedroom', graph) == ['bedroom']
    assert grounder.match_room('sleeping room', graph) == ['bedroom', 'bedroom_2']
    assert grounder.match_room('garage', graph) == []


def test_parse_reference_splits_head_and_relations():
    ref = parse_reference('the big red chair next to the wooden table in the kitchen')
    assert ref.noun == 'chair' and ref.colors == ['red'] and ref.size == 'largest'
    assert ref.room == '' and ref.relations[0][1].room == 'kitchen'  # the room goes with the nearest noun
    assert [r[0] for r in ref.relations] == ['near'] and ref.relations[0][1].noun == 'wooden table'
    assert parse_reference('the light blue box').colors == ['blue']
    nested = parse_reference('the lamp in the living room left of the cabinet in the office')
    assert nested.room == 'living room' and nested.relations[0][1].room == 'office'
    assert parse_reference('the chair closest to me').nearest_robot
    assert singular('shelves') == 'shelf' and singular('boxes') == 'box' and singular('bus') == 'bus'


def test_plural_names_every_sim_class_so_that_singular_reads_it_back():
    from groundfm.scene.grounding import plural
    from groundfm.sim.house import CLASSES

    for label in CLASSES:
        assert plural(label, 1) == label and singular(plural(label)) == label, plural(label)
    assert [plural(w) for w in ('red box', 'shelf', 'chair', 'couch', 'tv', 'family')] == [
        'red boxes', 'shelves', 'chairs', 'couches', 'tvs', 'families']


def test_with_article_picks_an_before_a_vowel():
    from groundfm.scene.grounding import with_article

    assert [with_article(w) for w in ('orange box', 'chair', 'office', 'lamp', 'Apple')] == [
        'an orange box', 'a chair', 'an office', 'a lamp', 'an Apple']


def test_referring_expressions_resolve_to_object_ids(grounder, graph):
    def ids(phrase):
        return [m.id for m in resolve(phrase, graph, ROBOT_POSE, grounder)]

    assert ids('the couch') == [1]
    assert ids('the red chair') == [4]
    assert ids('the chair next to the table') == [3]
    assert ids('the red chair next to the table') == []  # the red chair is in the kitchen
    assert ids('the chair in the kitchen') == [4]
    assert ids('the box on the bed') == [8]
    assert ids('the chair left of the table')[0] == 3  # robot looks south: east is on its left; closest first
    assert ids('the chair right of the table') == []
    assert ids('the chair closest to me') == [3]
    assert ids('the object nearest to the sofa') == [2]
    assert ids('the banana') == []
    assert ids('the sofa in the garage') == []


def test_a_known_class_absent_from_the_map_matches_no_other_class(grounder):
    # Only a sofa is mapped: "chair" is a class the grounder knows, so it must not fall back to the nearest mapped
    # class by embedding (the demo once counted "1 sofa" for "how many chairs are there?").
    from conftest import observation

    from groundfm.scene.graph import SceneGraph
    from groundfm.scene.qa import GraphBackend, QAEngine

    graph = SceneGraph()
    graph.update([observation(1, 'sofa', 'green', (1, 3.5, 0.5), (2, 0.9, 0.85))])

    assert grounder.resolve('chair', graph) == []
    assert [m.object.label for m in grounder.resolve('couch', graph)] == ['sofa']
    assert 'There are 0 chairs' in QAEngine(GraphBackend(grounder)).answer('how many chairs are there?', graph).answer
