"""3D-R1-style question answering over the scene graph (ROS-free).

Output format (3D-R1, arXiv 2507.23478): `<think>Step 1: ... Step n: ...</think><answer>...</answer>`. Objects the
answer refers to are tagged `[obj N]` (N = scene graph id); the parser turns the tags into grounded boxes and strips
them from the text shown to users. One parser (`parse_output`) reads every backend's output: the rule-based graph
backend here and the VLM backend (vlm.py).

Question types (`QUESTION_TYPES`): existence ("is there a red chair in the kitchen?"), counting ("how many chairs are
in the kitchen?"), attribute_color ("what colour is the sofa?"), attribute_size ("how tall is the fridge?"), spatial
("what is next to the sofa?", "what is the closest object to the bed?", "is the lamp left of the tv?", "what is the
nearest object to me?"), room ("which room is the bathtub in?", "is the desk in the office?"), distance ("how far is
the sofa from the tv?", "how far away is the fridge?") and where ("where is the plant?").

Never a guess presented as fact: a question that cannot be parsed, a class the vocabulary does not know, a room that
does not exist, an object that has not been mapped, or an ambiguous reference with differing answers gets "I don't
know" (or the list of alternatives) with the reason in the reasoning. Existence and counting answer for the mapped
area, and say so.
"""

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from groundfm.scene.config import SceneConfig
from groundfm.scene.graph import SceneGraph, SceneNode
from groundfm.scene.grounding import Grounder, Match, parse_reference, plural, singular
from groundfm.scene.rewards import FORMAT_RE, format_reward

QUESTION_TYPES = ('existence', 'counting', 'attribute_color', 'attribute_size', 'spatial', 'room', 'distance', 'where')
IDK = "I don't know"
_OBJ_TAG = re.compile(r'\[obj (\d+)\]')
_ROBOT = r'(?:me|us|you|the robot|the dog|here|yourself)'
_NUMBER_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten')


@dataclass
class ParsedOutput:
    """A model output split into its parts; well_formed is the 3D-R1 format reward as a bool."""

    think: str
    answer: str  # the answer text with [obj N] tags removed
    object_ids: list[int]  # ids tagged in the answer, in order, unique
    well_formed: bool


def parse_output(text: str) -> ParsedOutput:
    """Split `<think>...</think><answer>...</answer>` output, tolerating missing or broken tags; never raises."""
    text = text if isinstance(text, str) else ''
    m = FORMAT_RE.match(text)
    if m:
        think, answer = m.group('think'), m.group('answer')
    else:
        tm = re.search(r'<think>(.*?)(?:</think>|<answer>|$)', text, re.DOTALL)
        am = re.search(r'<answer>(.*?)(?:</answer>|$)', text, re.DOTALL)
        think = tm.group(1) if tm else ''
        answer = am.group(1) if am else ''
    ids = list(dict.fromkeys(int(i) for i in _OBJ_TAG.findall(answer)))
    clean = re.sub(r'\s+([.,;:])', r'\1', re.sub(r'\s*\[obj \d+\]', '', answer))
    clean = re.sub(r'\s+', ' ', clean).strip()
    return ParsedOutput(re.sub(r'\s+', ' ', think).strip(), clean, ids, format_reward(text) == 1.0)


def format_output(steps: Sequence[str], answer: str) -> str:
    """`<think>Step 1: ... Step n: ...</think><answer>answer</answer>`."""
    think = ' '.join(f'Step {i}: {s}' for i, s in enumerate(steps, 1))
    return f'<think>{think}</think><answer>{answer}</answer>'


@dataclass
class QAResult:
    """One answer: text, reasoning, the raw model output, grounded objects, confidence [0, 1] and question type."""

    success: bool
    answer: str
    reasoning: str
    raw_output: str
    boxes: list[SceneNode] = field(default_factory=list)
    confidence: float = 0.0
    qtype: str = ''
    message: str = ''
    latency_ms: float = 0.0


@dataclass
class Question:
    """A parsed question: its type and its slots (phrases, relation, dimension...)."""

    qtype: str
    slots: dict[str, str]


_PATTERNS: tuple[tuple[str, str], ...] = (
    ('counting', r'^how many (?P<ref>.+?)(?: are there| is there| do you see| can you see| have you seen| are '
                 r'in the house| are in total| in total| altogether| are)*$'),
    ('existence', r'^(?:is there|are there|do you see|can you see|have you seen|does the house have|do we have|'
                  r'is anything|is something)(?: an?| any| some)? (?P<ref>.+?)(?: anywhere| here)?$'),
    ('attribute_color', r'^(?:what|which) colou?r (?:is|are|does) (?P<ref>.+?)(?: have)?$'),
    ('attribute_color', r'^what is the colou?r of (?P<ref>.+)$'),
    ('attribute_size', r'^how (?P<dim>big|large|tall|high|wide|long|deep) (?:is|are) (?P<ref>.+)$'),
    ('attribute_size', r'^what (?:is the size of|size is|are the dimensions of|is the height of) (?P<ref>.+)$'),
    ('distance', r'^how far (?:away )?(?:is|are) (?P<a>.+?)(?: (?:away )?from (?P<b>.+))?$'),
    ('distance', r'^what is the distance (?:between|from) (?P<a>.+?) (?:and|to) (?P<b>.+)$'),
    ('room', r'^(?:which|what) room (?:is|are) (?P<ref>.+?)(?: in| located in| inside)?$'),
    ('room', r'^in (?:which|what) room (?:is|are) (?P<ref>.+)$'),
    ('spatial', r'^(?:what|which) (?:object |thing )?is (?:the )?(?:closest|nearest)(?: object| thing)?'
                r'(?: to (?P<ref>.+))?$'),
    ('spatial', r'^what(?:\'s| is) (?:the )?(?:closest|nearest) (?:object|thing)(?: to (?P<ref>.+))?$'),
    ('spatial', r'^(?:what|which objects?|what objects?) (?:is|are) (?P<rel>next to|near|beside|close to|on top of|on|'
                r'under|to the left of|left of|on the left of|to the right of|right of|on the right of|between) '
                r'(?P<ref>.+)$'),
    ('spatial', r'^(?:is|are) (?P<a>.+?) (?P<rel>next to|near|beside|close to|on top of|on|under|to the left of|'
                r'left of|on the left of|to the right of|right of|on the right of|between) (?P<b>.+)$'),
    ('room', r'^(?:is|are) (?P<ref>.+?) in (?P<room>.+)$'),
    ('where', r'^(?:where (?:is|are|can i find|did you see|do i find)|find|locate|show me) (?P<ref>.+?)'
              r'(?: located| placed)?$'),
)


def parse_question(question: str) -> Question | None:
    """The question's type and slots, or None when no pattern fits."""
    text = re.sub(r'\s+', ' ', re.sub(r"[^a-z0-9_' -]", ' ', question.lower().replace('-', ' '))).strip()
    text = re.sub(r'^(?:please |robot |hey |can you tell me |tell me |do you know )+', '', text)
    text = re.sub(r'\b(?:please)$', '', text).strip()
    for qtype, pattern in _PATTERNS:
        m = re.match(pattern, text)
        if m:
            return Question(qtype, {k: v.strip() for k, v in m.groupdict().items() if v})
    return None


class Backend(Protocol):
    """Produces raw 3D-R1-format text for a question about a graph."""

    def generate(self, question: str, graph: SceneGraph, robot_pose: Sequence[float] | None) -> str: ...


def _name(n: SceneNode) -> str:
    return f'{n.color_name + " " if n.color_name else ""}{n.label} [obj {n.id}]'


def _room(name: str) -> str:
    return name.replace('_', ' ')


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return ', '.join(items[:-1]) + ' and ' + items[-1]


class GraphBackend:
    """Rule-based reasoning over the scene graph, emitting 3D-R1-format text with [obj N] tags."""

    def __init__(self, grounder: Grounder, cfg: SceneConfig | None = None) -> None:
        self.grounder = grounder
        self.cfg = cfg or SceneConfig()
        self.confidence = 0.0  # of the last generate()
        self.qtype = ''

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _ground(self, phrase: str, graph: SceneGraph, pose, steps: list[str]) -> tuple[list[Match], str | None]:
        """Resolve a phrase; returns (matches, reason it cannot be answered or None)."""
        ref = parse_reference(phrase)
        if ref.nearest_robot and pose is None:
            return [], 'the question is relative to the robot but its pose is unknown'
        if not ref.generic:
            known = self.grounder.match_class(ref.noun, self.grounder.vocabulary(graph))
            if not known:
                return [], f'"{ref.noun}" names no object class I can recognise'
            steps.append(f'"{ref.noun}" means class {known[0][0]}' + (
                f' (MiniLM cosine {known[0][1]:.2f})' if known[0][1] < 1.0 else '') + '.')
        if ref.room and not self.grounder.match_room(ref.room, graph):
            return [], f'I know no room called "{ref.room}" (rooms: {", ".join(map(_room, graph.room_names()))})'
        if any(name in ('left_of', 'right_of') for name, _, _ in ref.relations) and pose is None:
            return [], 'left and right depend on the viewpoint, and the robot pose is unknown'
        matches = self.grounder.resolve(ref, graph, pose)
        if ref.room:
            steps.append(f'Room "{ref.room}" -> {", ".join(map(_room, self.grounder.match_room(ref.room, graph)))} '
                         f'(room layout: {graph.room_source}).')
        return matches, None

    def _idk(self, steps: list[str], reason: str) -> str:
        self.confidence = 0.0
        steps.append(f'I cannot answer: {reason}.')
        return format_output(steps, f"{IDK}: {reason}.")

    @staticmethod
    def _conf(matches: Sequence[Match]) -> float:
        return float(np.clip(min(m.score * max(m.object.confidence, 0.05) for m in matches), 0.0, 1.0))

    # -- entry point -----------------------------------------------------------------------------------------------
    def generate(self, question: str, graph: SceneGraph, robot_pose: Sequence[float] | None = None) -> str:
        """Answer one question as `<think>...</think><answer>...</answer>` text."""
        self.confidence, self.qtype = 0.0, ''
        q = parse_question(question)
        steps: list[str] = []
        if q is None:
            return self._idk(['The question matches none of the types I answer (existence, counting, colour, size, '
                              'spatial relation, room, distance, where).'], 'I cannot parse this question')
        self.qtype = q.qtype
        kind = q.qtype.replace('_', ' ')
        steps.append(f'This is {"an" if kind[0] in "aeiou" else "a"} {kind} question over {len(graph)} mapped objects.')
        if len(graph) == 0:
            return self._idk(steps, 'the map holds no objects yet')
        return getattr(self, f'_{q.qtype}')(q.slots, graph, robot_pose, steps)

    def _counting(self, s, graph, pose, steps) -> str:
        phrase = re.sub(r'^(?:the|a|an|any)\s+', '', s['ref'])
        matches, why = self._ground(phrase, graph, pose, steps)
        if why:
            return self._idk(steps, why)
        ref = parse_reference(phrase)
        label = matches[0].object.label if matches else singular(ref.noun)
        n = len(matches)
        where = f' in the {_room(ref.room)}' if ref.room else ''
        steps.append(f'Matching objects: {_join([_name(m.object) for m in matches]) or "none"}.')
        steps.append(f'Counting them gives {n} {plural(label, n)}{where} in the mapped area.')
        self.confidence = self._conf(matches) if matches else 0.7
        listed = f' ({_join([f"the {_name(m.object)}" for m in matches])})' if matches else ''
        return format_output(steps, f'There {"is" if n == 1 else "are"} {n} {plural(label, n)}{where}{listed}.')

    def _existence(self, s, graph, pose, steps) -> str:
        matches, why = self._ground(s['ref'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        if matches:
            steps.append(f'Found {_join([_name(m.object) for m in matches])}.')
            self.confidence = self._conf(matches)
            return format_output(steps, f'Yes, {_join([_name(m.object) for m in matches[:3]])}'
                                        f'{" and more" if len(matches) > 3 else ""}.')
        steps.append(f'No mapped object fits "{s["ref"]}".')
        self.confidence = 0.7
        return format_output(steps, f'No, I have not seen any {s["ref"]} in the mapped area.')

    def _single(self, phrase, graph, pose, steps) -> tuple[list[Match], str | None]:
        matches, why = self._ground(phrase, graph, pose, steps)
        if why:
            return [], why
        if not matches:
            return [], f'I have not seen {phrase} in the mapped area'
        return matches, None

    def _attribute_color(self, s, graph, pose, steps) -> str:
        matches, why = self._single(s['ref'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        colors = {m.object.color_name for m in matches}
        if '' in colors:
            return self._idk(steps, 'the map has no colour for it yet')
        steps.append('Colour is the nearest named colour to the mean colour of the map Gaussians of '
                     f'{_join([_name(m.object) for m in matches])}.')
        self.confidence = self._conf(matches)
        if len(colors) > 1:
            self.confidence *= 0.5
            return format_output(steps, f'There are {len(matches)} of them: ' + _join(
                [f'the {m.object.label} [obj {m.id}] is {m.object.color_name}' for m in matches]) + '.')
        return format_output(steps, f'The {matches[0].object.label} [obj {matches[0].id}] is {colors.pop()}.')

    def _attribute_size(self, s, graph, pose, steps) -> str:
        matches, why = self._single(s['ref'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        if len(matches) > 1:
            return self._idk(steps, f'{s["ref"]} is ambiguous: {_join([_name(m.object) for m in matches])}')
        n = matches[0].object
        length, width = max(n.size[0], n.size[1]), min(n.size[0], n.size[1])
        steps.append(f'The box of {_name(n)} measures {n.size[0]:.2f} x {n.size[1]:.2f} x {n.size[2]:.2f} m.')
        self.confidence = self._conf(matches)
        return format_output(steps, f'The {n.label} [obj {n.id}] is about {length:.2f} m long, {width:.2f} m wide '
                                    f'and {n.size[2]:.2f} m tall.')

    def _room(self, s, graph, pose, steps) -> str:
        matches, why = self._single(s['ref'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        steps.append(f'Room membership from the room layout ({graph.room_source}).')
        if 'room' in s:
            rooms = self.grounder.match_room(s['room'], graph)
            if not rooms:
                return self._idk(steps, f'I know no room called "{s["room"]}"')
            inside = [m for m in matches if m.object.room in rooms]
            self.confidence = self._conf(matches)
            if inside:
                return format_output(steps, f'Yes, {_name(inside[0].object)} is in the {_room(inside[0].object.room)}.')
            return format_output(steps, f'No, {_name(matches[0].object)} is in the '
                                        f'{_room(matches[0].object.room) or "unknown room"}.')
        rooms = {m.object.room for m in matches}
        if '' in rooms:
            return self._idk(steps, 'its room is unknown (no room layout covers it)')
        self.confidence = self._conf(matches)
        if len(rooms) > 1:
            self.confidence *= 0.5
            return format_output(steps, f'There are {len(matches)} of them: ' + _join(
                [f'the {_name(m.object)} is in the {_room(m.object.room)}' for m in matches]) + '.')
        n = matches[0].object
        return format_output(steps, f'The {n.label} [obj {n.id}] is in the {_room(n.room)}.')

    def _distance(self, s, graph, pose, steps) -> str:
        a, why = self._single(s['a'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        if len(a) > 1:
            return self._idk(steps, f'{s["a"]} is ambiguous: {_join([_name(m.object) for m in a])}')
        target = a[0].object
        other = s.get('b', 'me')
        if re.fullmatch(_ROBOT, other):
            if pose is None:
                return self._idk(steps, 'the robot pose is unknown')
            d = float(np.linalg.norm(target.center[:2] - np.asarray(pose[:2], float)))
            steps.append(f'Robot at ({pose[0]:.2f}, {pose[1]:.2f}); {_name(target)} centre at '
                         f'({target.center[0]:.2f}, {target.center[1]:.2f}).')
            self.confidence = self._conf(a)
            return format_output(steps, f'The {target.label} [obj {target.id}] is about {d:.2f} m from me '
                                        '(to its centre).')
        b, why = self._single(other, graph, pose, steps)
        if why:
            return self._idk(steps, why)
        b = [m for m in b if m.id != target.id]
        if len(b) != 1:
            return self._idk(steps, f'{other} is ambiguous: {_join([_name(m.object) for m in b])}' if b
                             else f'{other} is the same object')
        ob = b[0].object
        d = float(np.linalg.norm(target.center[:2] - ob.center[:2]))
        steps.append(f'Centres: {_name(target)} ({target.center[0]:.2f}, {target.center[1]:.2f}), {_name(ob)} '
                     f'({ob.center[0]:.2f}, {ob.center[1]:.2f}); gap between footprints {graph.gap(target, ob):.2f} m.')
        self.confidence = self._conf(a + b)
        return format_output(steps, f'The {target.label} [obj {target.id}] is about {d:.2f} m from the {ob.label} '
                                    f'[obj {ob.id}] (centre to centre).')

    def _where(self, s, graph, pose, steps) -> str:
        matches, why = self._single(s['ref'], graph, pose, steps)
        if why:
            return self._idk(steps, why)
        parts = []
        for m in matches[:3]:
            n = m.object
            near = graph.nearest_to_object(n)
            rel = f', next to the {near.label} [obj {near.id}]' if near is not None and graph.near(n, near) else ''
            room = f'in the {_room(n.room)}' if n.room else 'in an unknown room'
            parts.append(f'the {_name(n)} is {room} at ({n.center[0]:.1f}, {n.center[1]:.1f}){rel}')
        steps.append(f'Located {_join([_name(m.object) for m in matches])} in the map frame.')
        self.confidence = self._conf(matches) * (1.0 if len(matches) == 1 else 0.6)
        answer = '; '.join(parts)
        return format_output(steps, answer[0].upper() + answer[1:] + '.')

    def _spatial(self, s, graph, pose, steps) -> str:
        rel = s.get('rel', '')
        if not rel:  # nearest object to X / to the robot
            ref = s.get('ref', 'me')
            if re.fullmatch(_ROBOT, ref):
                if pose is None:
                    return self._idk(steps, 'the robot pose is unknown')
                n = graph.nearest(pose[:2])
                d = graph.distance_to_point(n, pose[:2])
                steps.append(f'Closest footprint to the robot at ({pose[0]:.2f}, {pose[1]:.2f}) is {_name(n)}, '
                             f'{d:.2f} m away.')
                self.confidence = max(n.confidence, 0.05)
                return format_output(steps, f'The closest object to me is the {_name(n)}, {d:.2f} m away.')
            anchor, why = self._single(ref, graph, pose, steps)
            if why:
                return self._idk(steps, why)
            if len(anchor) > 1:
                return self._idk(steps, f'{ref} is ambiguous: {_join([_name(m.object) for m in anchor])}')
            a = anchor[0].object
            n = graph.nearest_to_object(a)
            if n is None:
                return self._idk(steps, 'there is no other object')
            steps.append(f'Footprint gaps from {_name(a)}: the smallest is {graph.gap(a, n):.2f} m to {_name(n)}.')
            self.confidence = self._conf(anchor)
            return format_output(steps, f'The closest object to the {a.label} [obj {a.id}] is the {_name(n)}.')
        if 'b' in s:  # yes / no: is A <rel> B
            phrase = f'{s["a"]} {rel} {s["b"]}'
            a, why = self._single(s['a'], graph, pose, steps)
            if why:
                return self._idk(steps, why)
            matches, why = self._ground(phrase, graph, pose, steps)
            if why:
                return self._idk(steps, why)
            ok = [m for m in matches if m.id in {x.id for x in a}]
            self.confidence = self._conf(a)
            view = ' from where I stand' if 'left' in rel or 'right' in rel else ''
            if ok:
                steps.append(f'{_name(ok[0].object)} satisfies "{rel}"{view}.')
                return format_output(steps, f'Yes, the {ok[0].object.label} [obj {ok[0].id}] is {rel} {s["b"]}{view}.')
            steps.append(f'No {s["a"]} satisfies "{rel} {s["b"]}"{view}.')
            return format_output(steps, f'No, the {a[0].object.label} [obj {a[0].id}] is not {rel} {s["b"]}{view}.')
        matches, why = self._ground(f'object {rel} {s["ref"]}', graph, pose, steps)
        if why:
            return self._idk(steps, why)
        if not matches:
            steps.append(f'No mapped object is {rel} {s["ref"]}.')
            self.confidence = 0.6
            return format_output(steps, f'Nothing I have mapped is {rel} {s["ref"]}.')
        steps.append(f'Objects {rel} {s["ref"]}, closest first: {_join([_name(m.object) for m in matches])}.')
        self.confidence = self._conf(matches[:1])
        return format_output(steps, f'{_join([f"the {_name(m.object)}" for m in matches[:4]]).capitalize()} '
                                    f'{"is" if len(matches) == 1 else "are"} {rel} {s["ref"]}.')


class QAEngine:
    """Question -> QAResult through a backend (graph rules or a VLM), with one output parser for all backends."""

    def __init__(self, backend: Backend, cfg: SceneConfig | None = None) -> None:
        self.backend = backend
        self.cfg = cfg or SceneConfig()

    def validate(self, question: str) -> str | None:
        """Why a question is refused before answering ('' text, too long), or None."""
        if not isinstance(question, str) or not question.strip():
            return 'the question is empty'
        if len(question) > self.cfg.max_question_chars:
            return f'the question is {len(question)} characters long; the limit is {self.cfg.max_question_chars}'
        return None

    def answer(self, question: str, graph: SceneGraph, robot_pose: Sequence[float] | None = None) -> QAResult:
        """Answer one question; malformed requests give success=False, model trouble gives "I don't know"."""
        start = time.perf_counter()
        problem = self.validate(question)
        if problem:
            return QAResult(False, '', '', '', message=problem)
        try:
            raw = self.backend.generate(question, graph, robot_pose)
        except Exception as err:  # a backend failure must not take the node down
            raw = format_output([f'The backend failed: {type(err).__name__}: {err}.'],
                                f'{IDK}: the answering model failed.')
        result = result_from_output(raw, graph)
        result.qtype = getattr(self.backend, 'qtype', '') or (parse_question(question) or Question('', {})).qtype
        conf = getattr(self.backend, 'confidence', None)
        if conf is not None and result.answer and not result.answer.startswith(IDK):
            result.confidence = float(np.clip(conf, 0.0, 1.0))
        result.latency_ms = (time.perf_counter() - start) * 1e3
        return result


def result_from_output(raw: str, graph: SceneGraph) -> QAResult:
    """Parse any backend's raw text into a QAResult; malformed output becomes "I don't know" with the reason."""
    parsed = parse_output(raw)
    boxes = [graph.get(i) for i in parsed.object_ids if graph.get(i) is not None]
    if not parsed.well_formed or not parsed.answer:
        return QAResult(True, f"{IDK}: the model's output did not follow the <think>...</think><answer>...</answer> "
                        'format.', parsed.think or 'The output could not be parsed.', raw, [], 0.0,
                        message='malformed model output')
    confidence = 0.0 if parsed.answer.startswith(IDK) else 0.5
    return QAResult(True, parsed.answer, parsed.think, raw, boxes, confidence)


def number_in(text: str, unit: str = '') -> float | None:
    """The first number in text (digits or a number word up to ten), optionally the one before unit."""
    if unit:
        m = re.search(rf'(-?\d+(?:\.\d+)?)\s*{unit}', text)
        if m:
            return float(m.group(1))
    m = re.search(r'-?\d+(?:\.\d+)?', text)
    if m:
        return float(m.group(0))
    for i, w in enumerate(_NUMBER_WORDS):
        if re.search(rf'\b{w}\b', text.lower()):
            return float(i)
    return None


def finite(x: float) -> bool:
    """math.isfinite for optional values."""
    return x is not None and math.isfinite(x)
