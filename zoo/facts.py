"""The zoo's synthetic knowledge base: seeded fictional entities, their short documents, facts questions.

No real corpus matches the zoo, so the project writes its own: a few thousand fictional towns, people,
bridges, ships, rivers and lighthouses, each with attributes (years, lengths, places, people) written
as a 2-4 sentence document from templates with some variation. A ``facts`` question asks for one
attribute of one entity ("In which year was the Veltrin Bridge opened?" -> ``1873``). The entities are
invented, so no model can answer from its own weights; with the entity's document in its prompt, a
reader can.

Every entity has its own name stem, and any two stems are at least two edits apart (``Veltrin`` and
``Veltran`` never both occur), so the question's name picks out its document for a lexical or dense
retriever. Answers are in the zoo's math format: numbers plainly (``1873``), names as LaTeX text
(``\\text{Drevak}``), which ``math_equal`` compares as strings (a bare ``Orlen Vask`` would be read as a
product of letters and equal ``Vask Orlen``).

Example::

    kb = generate_kb(seed=0, n_entities=200)
    kb[0].document()    # {'id': 'drevak', 'title': 'Drevak', 'text': 'Drevak is a town in ...', ...}
    facts_question(kb[0], random.Random(1))  # ZooQuestion('facts', 'When was the town of Drevak ...', '1321')
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.tasks import ZooQuestion

__all__ = [
    "FACTS_KB_SEED",
    "FACTS_KB_SIZE",
    "FACTS_SOURCE_PREFIX",
    "KINDS",
    "FactsEntity",
    "facts_question",
    "generate_kb",
]

FACTS_KB_SEED = 13
"""Seed of the committed knowledge base (``zoo/data/facts_kb.jsonl``)."""

FACTS_KB_SIZE = 4500
"""Entities in the committed knowledge base (about 1 MB of JSONL)."""

FACTS_SOURCE_PREFIX = "facts/"
"""A document's ``source`` is this prefix plus its id (``facts/veltrin-bridge``)."""

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th")
_ONSETS += ("tr", "v", "w", "z")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ei", "ou")
_CODAS = ("", "", "", "", "n", "r", "l", "s", "m", "th", "nd", "rk", "st", "x")

_FIRST_NAMES = {
    "she": ("Amira", "Brisa", "Calla", "Dessa", "Elsin", "Fenna", "Galia", "Hesper", "Iona", "Jorun"),
    "he": ("Aldo", "Bram", "Corin", "Dario", "Evander", "Falk", "Gideon", "Hollis", "Ivo", "Jasper"),
}
_FIRST_NAMES["she"] += ("Kestra", "Liora", "Maren", "Nessa", "Orla", "Perrin", "Quilla", "Rhosyn", "Selka")
_FIRST_NAMES["he"] += ("Kael", "Lorcan", "Matthis", "Niall", "Osric", "Piet", "Quill", "Roderic", "Soren")

_OCCUPATIONS = ("painter", "poet", "sculptor", "composer", "cartographer", "astronomer", "physician")
_OCCUPATIONS += ("engineer", "botanist", "merchant", "architect", "historian", "mathematician", "weaver")
_MATERIALS = ("stone", "iron", "steel", "wooden", "brick", "concrete", "rope")
_SHIP_TYPES = ("schooner", "steamer", "frigate", "ferry", "barque", "whaler", "brigantine", "cutter")

N_REGIONS = 48
N_SEAS = 30

_KIND_SHARES = (
    ("town", 0.2),
    ("person", 0.2),
    ("bridge", 0.15),
    ("ship", 0.15),
    ("river", 0.12),
    ("lighthouse", 0.18),
)
KINDS: tuple[str, ...] = tuple(k for k, _ in _KIND_SHARES)
"""Entity kinds, in generation order (towns first: the other kinds name towns)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FactsEntity:
    """One fictional entity: its name, its attributes and the document that states them.

    Attributes:
        kind: one of :data:`KINDS`.
        name: how questions name it (``Veltrin Bridge``, ``Amira Tolvek``, ``Corrander``).
        title: the document title (``Corrander (ship)`` for a ship, else the name).
        text: the document (2-4 sentences).
        answers: attribute -> gold answer as it appears inside ``\\boxed{}`` (``1873``, ``\\text{Drevak}``).
    """

    kind: str
    name: str
    title: str
    text: str
    answers: tuple[tuple[str, str], ...]

    @property
    def doc_id(self) -> str:
        """The document id: the title as a slug (``veltrin-bridge``, ``corrander-ship``)."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    def document(self) -> dict[str, str]:
        """The knowledge-base row: ``{"id", "title", "text", "source"}``."""
        return {
            "id": self.doc_id,
            "title": self.title,
            "text": self.text,
            "source": FACTS_SOURCE_PREFIX + self.doc_id,
        }

    def answer(self, attribute: str) -> str:
        """The gold answer of ``attribute``.

        Raises:
            KeyError: the entity has no such attribute.
        """
        for key, value in self.answers:
            if key == attribute:
                return value
        raise KeyError(f"{self.kind} {self.name!r} has no attribute {attribute!r}")


class _Stems:
    """Unique capitalised name stems, any two at least two edits apart (symmetric-delete check)."""

    def __init__(self, rng: random.Random, reserved: Sequence[str] = ()) -> None:
        self._rng = rng
        self._taken: set[str] = set()
        for word in reserved:  # first names: a stem must not be one, nor one edit from one
            self._taken |= self._variants(word.lower())

    @staticmethod
    def _variants(stem: str) -> set[str]:
        """The stem and every one-deletion of it: two stems within one edit share a variant."""
        return {stem} | {stem[:i] + stem[i + 1 :] for i in range(len(stem))}

    def _syllable(self) -> str:
        return self._rng.choice(_ONSETS) + self._rng.choice(_VOWELS) + self._rng.choice(_CODAS)

    def draw(self) -> str:
        while True:
            n = 2 if self._rng.random() < 0.8 else 3
            stem = "".join(self._syllable() for _ in range(n))
            variants = self._variants(stem.lower())
            if 5 <= len(stem) <= 10 and not variants & self._taken:
                self._taken |= variants
                return stem.capitalize()


@dataclass(frozen=True, slots=True)
class _World:
    """The shared values documents refer to: regions, seas and (once generated) town names."""

    regions: tuple[str, ...]
    seas: tuple[str, ...]
    towns: tuple[str, ...]


def _text(s: str) -> str:
    return f"\\text{{{s}}}"


def _person(rng: random.Random, stems: _Stems) -> tuple[str, str]:
    """A fictional full name and its pronoun (``("Amira Tolvek", "she")``)."""
    pronoun = rng.choice(("she", "he"))
    return f"{rng.choice(_FIRST_NAMES[pronoun])} {stems.draw()}", pronoun


def _town(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    region, year = rng.choice(world.regions), rng.randint(800, 1899)
    founder, _ = _person(rng, stems)
    first = rng.choice(
        (
            f"{stem} is a town in {region}.",
            f"{stem} is a small town in the region of {region}.",
            f"The town of {stem} lies in {region}.",
        )
    )
    second = rng.choice(
        (
            f"It was founded in {year} by {founder}.",
            f"{founder} founded it in {year}.",
            f"{stem} was founded by {founder} in {year}.",
        )
    )
    sentences = [first, second]
    if rng.random() < 0.5:
        sentences.append(f"It has about {rng.randint(300, 90000)} inhabitants.")
    answers = (("founded", str(year)), ("region", _text(region)), ("founder", _text(founder)))
    return FactsEntity(kind="town", name=stem, title=stem, text=" ".join(sentences), answers=answers)


def _person_entity(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    del stems
    pronoun = rng.choice(("she", "he"))
    name = f"{rng.choice(_FIRST_NAMES[pronoun])} {stem}"
    town, job = rng.choice(world.towns), rng.choice(_OCCUPATIONS)
    born = rng.randint(1500, 1950)
    died = born + rng.randint(25, 95)
    article = "an" if job[0] in "aeiou" else "a"
    first = rng.choice(
        (
            f"{name} was {article} {job} born in {town} in {born}.",
            f"{name} was born in {town} in {born} and worked as {article} {job}.",
            f"Born in {born} in {town}, {name} was {article} {job}.",
        )
    )
    sentences = [first, f"{pronoun.capitalize()} died in {died}."]
    answers = (("born", str(born)), ("birthplace", _text(town)), ("died", str(died)))
    return FactsEntity(kind="person", name=name, title=name, text=" ".join(sentences), answers=answers)


def _bridge(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    name = f"{stem} Bridge"
    town, year, length = rng.choice(world.towns), rng.randint(1650, 1995), rng.randint(30, 2400)
    designer, _ = _person(rng, stems)
    material = rng.choice(_MATERIALS)
    sentences = [
        f"The {name} is a {material} bridge in {town}.",
        rng.choice(
            (
                f"It opened in {year} and is {length} meters long.",
                f"It is {length} meters long and opened in {year}.",
                f"Opened in {year}, it is {length} meters long.",
            )
        ),
        rng.choice((f"It was designed by {designer}.", f"The engineer {designer} designed it.")),
    ]
    answers = (
        ("opened", str(year)),
        ("length", str(length)),
        ("town", _text(town)),
        ("designer", _text(designer)),
    )
    return FactsEntity(kind="bridge", name=name, title=name, text=" ".join(sentences), answers=answers)


def _ship(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    kind, year, port = rng.choice(_SHIP_TYPES), rng.randint(1700, 1990), rng.choice(world.towns)
    captain, _ = _person(rng, stems)
    sentences = [
        rng.choice(
            (f"The {stem} is a {kind} launched in {year}.", f"The {kind} {stem} was launched in {year}.")
        ),
        rng.choice((f"Her home port is {port}.", f"She sails from her home port of {port}.")),
        rng.choice((f"Her first captain was {captain}.", f"{captain} was her first captain.")),
    ]
    if rng.random() < 0.4:
        sentences.append(f"She is {rng.randint(18, 240)} meters long.")
    answers = (("launched", str(year)), ("port", _text(port)), ("captain", _text(captain)))
    return FactsEntity(
        kind="ship", name=stem, title=f"{stem} (ship)", text=" ".join(sentences), answers=answers
    )


def _river(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    del stems
    name = f"{stem} River"
    region, sea, length = rng.choice(world.regions), rng.choice(world.seas), rng.randint(20, 2900)
    sentences = [
        rng.choice(
            (
                f"The {name} rises in {region}.",
                f"The {name} is a river that rises in {region}.",
                f"The {name} has its source in {region}.",
            )
        ),
        rng.choice(
            (
                f"It is {length} kilometers long and flows into the {sea}.",
                f"It flows into the {sea} after {length} kilometers.",
            )
        ),
    ]
    if rng.random() < 0.4:
        sentences.append(f"Boats can navigate its lower {rng.randint(5, 400)} kilometers.")
    answers = (("length", str(length)), ("region", _text(region)), ("sea", _text(sea)))
    return FactsEntity(kind="river", name=name, title=name, text=" ".join(sentences), answers=answers)


def _lighthouse(rng: random.Random, stem: str, stems: _Stems, world: _World) -> FactsEntity:
    del stems
    name = f"{stem} Lighthouse"
    region, year, height = rng.choice(world.regions), rng.randint(1650, 1990), rng.randint(8, 75)
    sentences = [
        rng.choice(
            (
                f"The {name} stands on the coast of {region}.",
                f"The {name} is a lighthouse on the coast of {region}.",
            )
        ),
        rng.choice(
            (
                f"It was built in {year} and is {height} meters tall.",
                f"Built in {year}, it is {height} meters tall.",
                f"It is {height} meters tall and was built in {year}.",
            )
        ),
    ]
    if rng.random() < 0.4:
        sentences.append(f"Its light can be seen {rng.randint(5, 40)} kilometers out to sea.")
    answers = (("built", str(year)), ("height", str(height)), ("region", _text(region)))
    return FactsEntity(kind="lighthouse", name=name, title=name, text=" ".join(sentences), answers=answers)


_MAKERS: dict[str, Callable[[random.Random, str, _Stems, _World], FactsEntity]] = {
    "town": _town,
    "person": _person_entity,
    "bridge": _bridge,
    "ship": _ship,
    "river": _river,
    "lighthouse": _lighthouse,
}


def _kind_counts(n_entities: int) -> dict[str, int]:
    counts = {kind: int(n_entities * share) for kind, share in _KIND_SHARES}
    counts["town"] += n_entities - sum(counts.values())
    return counts


def generate_kb(seed: int = FACTS_KB_SEED, n_entities: int = FACTS_KB_SIZE) -> list[FactsEntity]:
    """A seeded knowledge base of ``n_entities`` fictional entities (the same for the same arguments).

    Args:
        seed: the seed (:data:`FACTS_KB_SEED` for the committed file; reader training uses others).
        n_entities: how many entities; about 20% towns and persons, 15% bridges and ships, 12% rivers,
            18% lighthouses.

    Returns:
        The entities, towns first, then persons, bridges, ships, rivers and lighthouses.
    """
    rng = random.Random(f"facts-kb-{seed}")
    stems = _Stems(rng, reserved=[n for names in _FIRST_NAMES.values() for n in names])
    regions = tuple(stems.draw() for _ in range(N_REGIONS))
    seas = tuple(f"{stems.draw()} Sea" for _ in range(N_SEAS))
    counts = _kind_counts(n_entities)
    town_stems = [stems.draw() for _ in range(counts["town"])]
    world = _World(regions, seas, tuple(town_stems))
    entities = [_town(rng, s, stems, world) for s in town_stems]
    for kind in KINDS[1:]:
        entities.extend(_MAKERS[kind](rng, stems.draw(), stems, world) for _ in range(counts[kind]))
    return entities


_QUESTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("town", "founded"): (
        "In which year was the town of {n} founded?",
        "When was the town of {n} founded?",
        "What year was the town of {n} founded in?",
    ),
    ("town", "region"): ("In which region is the town of {n}?", "Which region is the town of {n} in?"),
    ("town", "founder"): ("Who founded the town of {n}?", "Who was the founder of the town of {n}?"),
    ("person", "born"): ("In which year was {n} born?", "When was {n} born?"),
    ("person", "birthplace"): ("In which town was {n} born?", "Where was {n} born?"),
    ("person", "died"): ("In which year did {n} die?", "When did {n} die?"),
    ("bridge", "opened"): ("In which year was the {n} opened?", "When did the {n} open?"),
    ("bridge", "length"): ("How long is the {n} in meters?", "What is the length of the {n} in meters?"),
    ("bridge", "town"): ("In which town is the {n}?", "Which town is the {n} in?"),
    ("bridge", "designer"): ("Who designed the {n}?", "Who was the designer of the {n}?"),
    ("ship", "launched"): ("In which year was the ship {n} launched?", "When was the ship {n} launched?"),
    ("ship", "port"): (
        "What is the home port of the ship {n}?",
        "Which town is the home port of the ship {n}?",
    ),
    ("ship", "captain"): ("Who was the first captain of the ship {n}?",),
    ("river", "length"): (
        "How long is the {n} in kilometers?",
        "What is the length of the {n} in kilometers?",
    ),
    ("river", "region"): ("In which region does the {n} rise?", "Where does the {n} have its source?"),
    ("river", "sea"): ("Into which sea does the {n} flow?", "Which sea does the {n} flow into?"),
    ("lighthouse", "built"): ("In which year was the {n} built?", "When was the {n} built?"),
    ("lighthouse", "height"): ("How tall is the {n} in meters?", "What is the height of the {n} in meters?"),
    ("lighthouse", "region"): (
        "In which region is the {n}?",
        "On the coast of which region does the {n} stand?",
    ),
}


def facts_question(entity: FactsEntity, rng: random.Random, attribute: str | None = None) -> ZooQuestion:
    """One ``facts`` question about ``entity``: a random (or the given) attribute and template.

    Args:
        entity: the entity asked about.
        rng: the random source (advanced by the draw).
        attribute: the attribute to ask for; a random one of the entity's when None.

    Returns:
        The question (skill ``facts``) and its gold answer.

    Raises:
        KeyError: the entity has no such attribute.
    """
    key = attribute or rng.choice([k for k, _ in entity.answers])
    gold = entity.answer(key)
    template = rng.choice(_QUESTIONS[(entity.kind, key)])
    return ZooQuestion("facts", template.format(n=entity.name), gold)


def iter_questions(entity: FactsEntity) -> Iterator[tuple[str, str]]:
    """Every (template-filled question, gold answer) pair of an entity: all attributes, all templates."""
    for key, gold in entity.answers:
        for template in _QUESTIONS[(entity.kind, key)]:
            yield template.format(n=entity.name), gold


def kb_rows(entities: Sequence[FactsEntity]) -> list[dict[str, Any]]:
    """The knowledge-base rows of ``entities`` (see :meth:`FactsEntity.document`)."""
    return [e.document() for e in entities]
