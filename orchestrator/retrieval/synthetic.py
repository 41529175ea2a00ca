"""Synthetic passages about fictional entities, and queries built from them, for benchmarks and tests.

Every passage describes one made-up person, river or city (names are random syllables, so neither the
embedding model nor BM25 has seen them). Each query targets one passage, in one of three styles:

- ``name``: a question naming the entity, worded differently from the passage;
- ``typo``: the same with one typo in the name (hurts exact-term BM25, less so word-piece embeddings);
- ``describe``: no name, only the entity's attributes (a number, the rest in paraphrase).

Example::

    corpus = synthetic_corpus(10_000, seed=0)   # [Passage-like dicts: id, title, text, source]
    queries = synthetic_queries(corpus, 300, seed=1)  # [(query, target id, style)]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLE_TEXT = (
    "ka ri vel mo qua ist tel liq zor van dra en ar len mir ren sol ta bo ne xi lu pha dor gan thi we yo "
    "cre sta fil nor bex cu ja om ul ey ves pri hal"
)
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())

_PROFESSIONS = {
    "painter": "artist who paints",
    "astronomer": "scientist who studies the stars",
    "cartographer": "maker of maps",
    "composer": "writer of music",
    "shipwright": "builder of boats",
    "botanist": "scientist who studies plants",
    "glassblower": "craftsman working with glass",
    "physician": "doctor",
    "architect": "designer of buildings",
    "beekeeper": "keeper of bees",
}
_WORKS = {
    "seascapes in oil": "paintings of the ocean",
    "a catalogue of comets": "a list of comets",
    "charts of the northern coast": "maps of the northern shoreline",
    "symphonies for strings": "orchestral music for violins",
    "fast river barges": "quick boats for rivers",
    "a study of alpine mosses": "research on mountain mosses",
    "coloured lanterns": "colourful lamps",
    "a cure for marsh fever": "a remedy for swamp fever",
    "a bridge of white stone": "a pale stone bridge",
    "a honey that never spoils": "honey that lasts forever",
}
_ANIMALS = {
    "otters": "river otters",
    "herons": "wading birds",
    "beavers": "dam-building rodents",
    "salmon": "migrating fish",
    "kingfishers": "small blue birds",
}
_CITY_TRADES = {
    "wool": "sheep fleece",
    "salt": "sea salt",
    "copper": "copper metal",
    "silk": "silk cloth",
    "clocks": "timepieces",
    "paper": "writing paper",
}
_REGIONS = ("the northern marches", "the eastern steppe", "the southern isles", "the western highlands",
            "the central plain", "the lake country")  # fmt: skip


@dataclass(frozen=True)
class SyntheticQuery:
    """A query, the id of the passage it was built from, and its style."""

    text: str
    target: str
    style: str


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def synthetic_corpus(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` passages ``{"id", "title", "text", "source"}`` about distinct fictional entities (seeded)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    while len(out) < n:
        kind = ("person", "river", "city")[len(out) % 3]
        name = f"{_name(rng, 2)} {_name(rng, 3)}" if kind == "person" else _name(rng, 3)
        if name in seen:
            continue
        seen.add(name)
        pid = f"{kind}-{len(out):06d}"
        out.append(
            {"id": pid, "title": name, "text": _passage(rng, kind, name), "source": f"synthetic#{pid}"}
        )
    return out


def _passage(rng: random.Random, kind: str, name: str) -> str:
    place = _name(rng, 3)
    region = rng.choice(_REGIONS)
    if kind == "person":
        return (
            f"{name} was a {rng.choice(list(_PROFESSIONS))} born in {rng.randint(1400, 1950)} in the town "
            f"of {place}, in {region}. {name.split()[0]} is remembered for {rng.choice(list(_WORKS))} and "
            f"spent later years teaching at the academy of {_name(rng, 2)}."
        )
    if kind == "river":
        return (
            f"The {name} is a river of {region}, {rng.randint(20, 2000)} kilometres long, that rises near "
            f"{place} and flows into the {_name(rng, 2)} sea. Its banks are known for "
            f"{rng.choice(list(_ANIMALS))}, and a ferry has crossed it at {_name(rng, 2)} since "
            f"{rng.randint(1200, 1900)}."
        )
    return (
        f"{name} is a city of {rng.randint(2, 900)} thousand people in {region}, on the road from {place} "
        f"to {_name(rng, 3)}. It grew rich on the trade in {rng.choice(list(_CITY_TRADES))} and its old "
        f"market hall dates from {rng.randint(1100, 1900)}."
    )


def _typo(rng: random.Random, name: str) -> str:
    word = max(name.split(), key=len)
    i = rng.randrange(1, len(word) - 1)
    bad = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return name.replace(word, bad, 1)


def synthetic_queries(corpus: list[dict[str, str]], n: int, seed: int = 1) -> list[SyntheticQuery]:
    """``n`` queries over random passages of ``corpus``, styles in turn (name, typo, describe)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        doc = rng.choice(corpus)
        style = ("name", "typo", "describe")[i % 3]
        name = doc["title"] if style == "name" else _typo(rng, doc["title"])
        text = doc["text"]
        if doc["id"].startswith("person"):
            prof = next(p for p in _PROFESSIONS if f" {p} " in text)
            work = next(w for w in _WORKS if w in text)
            year = text.split(" born in ")[1].split()[0]
            q = (
                f"Which {_PROFESSIONS[prof]} born in {year} made {_WORKS[work]}?"
                if style == "describe"
                else f"What is {name} famous for?"
            )
        elif doc["id"].startswith("river"):
            animal = next(a for a in _ANIMALS if a in text)
            region = next(r for r in _REGIONS if r in text)
            km = text.split(" kilometres long")[0].rsplit(" ", 1)[1]
            q = (
                f"Which {km} km river in {region.removeprefix('the ')} has many {_ANIMALS[animal]}?"
                if style == "describe"
                else f"How long is the river {name} and where does it end?"
            )
        else:
            trade = next(t for t in _CITY_TRADES if f"trade in {t}" in text)
            region = next(r for r in _REGIONS if r in text)
            people = text.split(" is a city of ")[1].split()[0]
            q = (
                f"Which town of {people} thousand inhabitants in {region.removeprefix('the ')} became "
                f"wealthy trading {_CITY_TRADES[trade]}?"
                if style == "describe"
                else f"How many inhabitants does {name} have?"
            )
        out.append(SyntheticQuery(q, doc["id"], style))
    return out
