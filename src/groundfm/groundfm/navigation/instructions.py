"""Parse a plain-language navigation instruction into an ordered list of sub-goals. ROS-free, rule-based.

Grammar (case-insensitive, punctuation ignored):
  instruction := step ((", then" | "then" | "and then" | ";" | ". ") step)*
  step        := [verb] referent [relation referent]  |  return-verb [to referent]
  referent    := [colour] object-class | room-kind [ordinal] | "door" | room-kind "door" | [colour] object "in the" room
  relation    := "next to" | "near" | "beside" | "by" | "close to" | "in front of" | "in" | "inside" | "of"
Examples: "go to the kitchen"; "walk to the red chair next to the table"; "go to the sofa, then come back to the door";
"return" / "come back" (the pose where the goal started). Anything else raises InstructionError with the reason.
"""

import re
from dataclasses import dataclass

from groundfm.sim.house import CLASSES, COLORS, ROOM_CONTENTS

# phrase -> canonical object class (sim/house.py CLASSES plus common synonyms)
OBJECT_WORDS: dict[str, str] = {label: label for label in CLASSES} | {
    'couch': 'sofa', 'settee': 'sofa', 'armchair': 'chair', 'stool': 'chair', 'seat': 'chair',
    'television': 'tv', 'tv set': 'tv', 'telly': 'tv', 'screen': 'tv', 'refrigerator': 'fridge',
    'bookshelf': 'shelf', 'bookcase': 'shelf', 'shelves': 'shelf', 'potted plant': 'plant', 'houseplant': 'plant',
    'flower': 'plant', 'cupboard': 'cabinet', 'dresser': 'cabinet', 'wardrobe': 'cabinet', 'tub': 'bathtub',
    'bath': 'bathtub', 'loo': 'toilet', 'crate': 'box', 'carton': 'box', 'floor lamp': 'lamp', 'light': 'lamp',
    'dining table': 'table', 'coffee table': 'table', 'writing desk': 'desk',
}
# phrase -> room kind
ROOM_WORDS: dict[str, str] = {kind.replace('_', ' '): kind for kind in ROOM_CONTENTS} | {
    'lounge': 'living_room', 'sitting room': 'living_room', 'family room': 'living_room', 'livingroom': 'living_room',
    'study': 'office', 'workroom': 'office', 'hall': 'hallway', 'corridor': 'hallway', 'entrance hall': 'hallway',
    'bed room': 'bedroom', 'restroom': 'bathroom', 'washroom': 'bathroom', 'toilet room': 'bathroom',
}
DOOR_WORDS = ('doorway', 'door', 'entrance', 'exit')
COLOR_WORDS: dict[str, str] = {c: c for c in COLORS} | {'gray': 'grey', 'violet': 'purple', 'dark': 'black'}
RELATION_WORDS: dict[str, str] = {
    'next to': 'near', 'near to': 'near', 'close to': 'near', 'beside': 'near', 'near': 'near', 'by': 'near',
    'in front of': 'near', 'at': 'near', 'inside': 'in', 'in': 'in', 'within': 'in', 'of': 'of', 'from': 'of',
}
ORDINALS = {'first': 1, 'second': 2, 'third': 3, 'fourth': 4, 'other': 2, 'another': 2}
_STEP_SPLIT = re.compile(r'\s*(?:,\s*and\s+then\s+|,\s*then\s+|\band\s+then\s+|\bthen\s+|;\s*|\.\s+|,\s*and\s+'
                         r'(?=(?:go|walk|come|return|head|move|find|navigate|run|get|stop|visit|approach)\b)'
                         r'|,\s*(?=(?:go|walk|come|return|head|move|find|navigate|run|get|visit|approach)\b))',
                         re.IGNORECASE)
_RETURN = re.compile(r'^(?:(?:come|go|get|head|walk|run|move)\s+back|return|back)\b(?:\s+(?:to|towards|toward))?\s*')
_VERB = re.compile(r'^(?:(?:go|walk|move|head|navigate|run|drive|get|come|travel|proceed|trot|wander)'
                   r'(?:\s+(?:over|up|down|on))?(?:\s+(?:to|towards|toward|into|in|inside|near|next to))?'
                   r'|find|approach|visit|reach|stop\s+(?:at|by|near|next to)|take me to|bring me to|show me)\s+')
_FILLER = re.compile(r'^(?:please|robot|dog|now|first|next|finally|and|also|ok|okay|hey|can you|could you|'
                     r'i want you to|lastly|after that|afterwards)\b[\s,]*')
_ARTICLES = {'the', 'a', 'an', 'my', 'that', 'this', 'our', 'your', 'some', 'one'}


class InstructionError(ValueError):
    """An instruction that cannot be followed; str(err) is the reason, written for the user."""


@dataclass(frozen=True)
class Referent:
    """A thing named in an instruction: kind 'object' | 'room' | 'door' | 'start'; label is the class or room kind."""

    kind: str
    label: str = ''
    color: str = ''
    ordinal: int = 0  # 'the second bedroom' -> 2; 0 = unspecified
    room: str = ''  # room kind qualifier: 'the table in the kitchen', 'the kitchen door'

    def describe(self) -> str:
        """Human-readable phrase, e.g. 'red chair' or 'room kitchen'."""
        if self.kind == 'start':
            return 'where I started'
        words = [self.color, self.label.replace('_', ' ')]
        if self.kind == 'door':
            words = [self.room.replace('_', ' ') if self.room else '', 'door']
        elif self.room:
            words.append(f'in the {self.room.replace("_", " ")}')
        if self.ordinal:
            words.append(f'#{self.ordinal}')
        return ' '.join(w for w in words if w)


@dataclass(frozen=True)
class SubGoal:
    """One step: go to target, optionally qualified by a relation ('near') to an anchor referent."""

    target: Referent
    relation: str = ''  # 'near' or '' (an 'in <room>' relation is folded into target.room)
    anchor: Referent | None = None
    text: str = ''  # the step as the user wrote it

    def describe(self) -> str:
        """Human-readable sub-goal, e.g. 'red chair near table'."""
        base = self.target.describe()
        return f'{base} {self.relation} {self.anchor.describe()}' if self.anchor else base


def split_steps(instruction: str) -> list[str]:
    """Split an instruction into its step phrases, in order."""
    text = ' '.join(instruction.strip().split())
    return [s.strip(' ,.!?') for s in _STEP_SPLIT.split(text) if s and s.strip(' ,.!?')]


def parse_instruction(instruction: str) -> list[SubGoal]:
    """Sub-goals of an instruction, in order; raises InstructionError with the reason when it cannot be followed."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise InstructionError('the instruction is empty: say where to go, e.g. "go to the kitchen"')
    if len(instruction) > 1000:
        raise InstructionError(f'the instruction is too long ({len(instruction)} characters, at most 1000)')
    steps = split_steps(instruction)
    if not steps:
        raise InstructionError(f'no destination in {instruction!r}: say where to go, e.g. "go to the sofa"')
    return [parse_step(step) for step in steps]


def parse_step(step: str) -> SubGoal:
    """One step phrase -> SubGoal; raises InstructionError."""
    text = re.sub(r"[^a-z0-9_\s']", ' ', step.lower())
    text = ' '.join(text.replace("'s", '').split())
    previous = None
    while previous != text:
        previous, text = text, _FILLER.sub('', text)
    returning = _RETURN.match(text)
    if returning:
        rest = text[returning.end():].strip()
        rest = re.sub(r'^(?:here|to start|to the start|where (?:i|you) started|home|to me|to where we started)\s*$',
                      '', rest)
        if not rest or rest in ('start', 'the start', 'starting point', 'the starting point', 'beginning'):
            return SubGoal(Referent('start'), text=step)
        text = rest
    else:
        text = _VERB.sub('', text, count=1)
    head, relation, tail = _split_relation(text)
    target = _referent(head, step)
    anchor = None
    if relation:
        anchor = _referent(tail, step)
        if relation in ('in', 'of') and anchor.kind == 'room':
            if target.kind == 'room':
                raise InstructionError(f'a room inside a room in {step!r} is not something I can go to')
            target = Referent(target.kind, target.label, target.color, target.ordinal, anchor.label)
            anchor, relation = None, ''
        else:
            relation = 'near'
    return SubGoal(target, relation, anchor, step)


def _split_relation(text: str) -> tuple[str, str, str]:
    """(head, relation, tail) at the first relation word that has a referent on both sides."""
    words = text.split()
    for i in range(1, len(words)):
        for phrase in sorted(RELATION_WORDS, key=lambda p: -len(p)):
            n = len(phrase.split())
            if ' '.join(words[i:i + n]) == phrase and i + n < len(words):
                return ' '.join(words[:i]), RELATION_WORDS[phrase], ' '.join(words[i + n:])
    return text, '', ''


def _referent(phrase: str, step: str) -> Referent:
    """A referent from a noun phrase like 'the red chair', 'kitchen', 'the second bedroom', 'the kitchen door'."""
    words = [w for w in phrase.split() if w not in _ARTICLES]
    if not words:
        raise InstructionError(f'no destination in {step!r}: say where to go, e.g. "go to the sofa"')
    joined = ' '.join(words)
    color = next((COLOR_WORDS[w] for w in words if w in COLOR_WORDS), '')
    ordinal = next((ORDINALS[w] for w in words if w in ORDINALS), 0)
    numbers = [int(w) for w in words if w.isdigit()]
    ordinal = ordinal or (numbers[0] if numbers else 0)
    room = _find_phrase(joined, ROOM_WORDS)
    obj = _find_phrase(joined, OBJECT_WORDS)
    door = any(w in DOOR_WORDS for w in words)
    if door:
        return Referent('door', room=room or '')
    if obj and room:
        return Referent('object', obj, color, ordinal, room)
    if obj:
        return Referent('object', obj, color, ordinal)
    if room:
        return Referent('room', room, ordinal=ordinal)
    raise InstructionError(f"I do not know where {joined!r} is (in {step!r}): name an object (e.g. 'the sofa'), "
                           f"a room (e.g. 'the kitchen'), a door, or say 'come back'")


def _find_phrase(text: str, table: dict[str, str]) -> str:
    """The canonical value of the longest table phrase occurring in text as whole words, or ''."""
    for phrase in sorted(table, key=lambda p: -len(p)):
        if re.search(rf'\b{re.escape(phrase)}\b', text) or re.search(rf'\b{re.escape(phrase)}s\b', text):
            return table[phrase]
    return ''
