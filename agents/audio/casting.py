"""Casting: a distinct voice label for every speaker, honouring gender and child hints.

A label (``male``, ``female``, ``male2``, ..., ``child``, ``child2``) names a voice, not an engine: each
speech generator maps the labels it can speak to its own voices (Piper's voice package, flite's awb/rms/
slt with pitch variants, espeak-ng variants; see :mod:`agents.audio.generators.speech`). A speaker's
gender comes from a hint after the name (``ANNA (female):``, ``TIMMY (child):``, ``(boy)``, ``(woman)``,
``(m)``), else from a short list of common first names, else the next label that keeps voices apart.

Example::

    cast = Casting()
    cast.voice_for("Anna", None), cast.voice_for("Timmy", "child"), cast.voice_for("Bob", None)
    # ("female", "child", "male")
"""

from __future__ import annotations

from dataclasses import dataclass, field

VOICE_LABELS = ("male", "female", "male2", "female2", "male3", "female3", "child", "child2")
"""Every label a plan may use; the CPU team's generators speak each one in a different voice."""

HINTS = {
    "male": "male", "m": "male", "man": "male", "boy": "child", "he": "male", "old man": "male",
    "female": "female", "f": "female", "woman": "female", "girl": "child", "she": "female",
    "old woman": "female", "child": "child", "kid": "child", "young": "child",
}  # fmt: skip
"""Words in the parenthesis after a speaker's name -> gender group."""

FEMALE_NAMES = frozenset(
    [
        "anna",
        "emma",
        "olivia",
        "ava",
        "sophia",
        "mia",
        "amelia",
        "isabella",
        "emily",
        "grace",
        "lily",
        "zoe",
        "zoë",
        "chloe",
        "sarah",
        "laura",
        "maria",
        "alice",
        "lucy",
        "ella",
        "ruby",
        "rose",
        "jane",
        "mary",
        "kate",
        "claire",
        "helen",
        "nora",
        "eva",
        "julia",
        "clara",
        "sofia",
        "hannah",
        "ida",
        "mother",
        "mom",
        "mum",
        "grandma",
        "queen",
        "princess",
        "lady",
        "aunt",
        "sister",
        "girl",
        "woman",
        "witch",
    ]
)
MALE_NAMES = frozenset(
    [
        "john",
        "james",
        "tom",
        "jack",
        "harry",
        "oliver",
        "george",
        "noah",
        "leo",
        "max",
        "sam",
        "ben",
        "peter",
        "paul",
        "mark",
        "david",
        "michael",
        "robert",
        "bob",
        "tim",
        "timmy",
        "joe",
        "luke",
        "adam",
        "henry",
        "arthur",
        "victor",
        "igor",
        "hans",
        "carl",
        "karl",
        "father",
        "dad",
        "grandpa",
        "king",
        "prince",
        "lord",
        "uncle",
        "brother",
        "boy",
        "man",
        "wizard",
        "captain",
        "sheriff",
    ]
)


def hint_group(hint: str | None) -> str | None:
    """The gender group (male, female, child) a parenthetical hint names, if any."""
    if not hint:
        return None
    words = hint.strip().lower().replace(",", " ").split()
    for size in (2, 1):
        for i in range(len(words) - size + 1):
            group = HINTS.get(" ".join(words[i : i + size]))
            if group:
                return group
    return None


def name_group(name: str) -> str | None:
    """A gender group guessed from a common first name (None when the name says nothing)."""
    first = name.strip().lower().split()[0] if name.strip() else ""
    if first in FEMALE_NAMES:
        return "female"
    if first in MALE_NAMES:
        return "male"
    return None


@dataclass
class Casting:
    """Voice labels handed out so far (one per speaker, distinct while labels last)."""

    voices: dict[str, str] = field(default_factory=dict)

    def voice_for(self, speaker: str, hint: str | None) -> str:
        """The speaker's label: fixed at their first line (a later hint does not recast them)."""
        key = speaker.casefold()
        if key in self.voices:
            return self.voices[key]
        group = hint_group(hint) or name_group(speaker)
        taken = set(self.voices.values())
        order = [v for v in VOICE_LABELS if group is None or v.startswith(group)]
        if group is None:  # alternate so two unlabelled speakers never share a voice
            order = [v for v in VOICE_LABELS if not v.startswith("child")]
        label = next((v for v in order if v not in taken), order[len(self.voices) % len(order)])
        self.voices[key] = label
        return label
