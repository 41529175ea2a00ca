"""The procedural effect catalogue: every recipe with the text it is found by, its words and its timing.

An effect's description finds its recipe by embedding similarity to each entry's ``text``
(:mod:`agents.audio.generators.sfx_match`); the whole-word ``words`` serve the rule-based planner, which
must spot sound words in prose without a model, and the fallback when no embedding model is installed.

Example::

    entry = CATALOG["dog"]
    x = entry.render(1.5, 44100, np.random.default_rng(0), parse_params("a small dog far away"))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agents.audio.generators import sfx_recipes as base
from agents.audio.generators.sfx_params import SfxParams, apply_distance
from agents.audio.generators.sfx_recipes_extra import EXTRA_RECIPES

ParamRecipe = Callable[[float, int, np.random.Generator, SfxParams], np.ndarray]


def _plain(fn: base.Recipe) -> ParamRecipe:
    """A recipe of :mod:`sfx_recipes` (no parameters of its own; distance still applies)."""
    return lambda d, sr, rng, p: fn(d, sr, rng)


def _impact(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    hit = base._hit(sr, rng, body_hz=p.scale(110, 35), decay_s=max(0.08, d / 6) * p.scale(0.6, 1.6),
                    noise_hz=4000)  # fmt: skip
    out = np.zeros(int(d * sr))
    out[: min(out.size, hit.size)] = hit[: out.size]
    return base._fade(base._norm(out), sr, 0.001, 0.1)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    """One recipe: what it sounds like (``text``), its whole words, planned length and the cursor advance."""

    name: str
    recipe: ParamRecipe
    text: str
    words: tuple[str, ...]
    duration_s: float = 1.5
    advance_s: float = 1.5
    ambience: bool = False

    def render(self, duration_s: float, sr: int, rng: np.random.Generator, params: SfxParams) -> np.ndarray:
        """The recipe at ``duration_s`` (never empty, never silent), shaped by distance.

        A short event is rendered at the recipe's own length and cut (a 0.3 s bark is the start of one).
        """
        n = max(1, int(duration_s * sr))
        x = self.recipe(max(duration_s, self.duration_s), sr, rng, params)[:n]
        fade = min(n // 4, int(0.02 * sr))
        if fade and x.size == n and duration_s < self.duration_s:
            x = x.copy()
            x[-fade:] *= np.linspace(1.0, 0.0, fade)
        x = apply_distance(np.asarray(x, dtype=np.float64), sr, params, rng)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        return x / peak * 0.9 if peak > 0 else x


def _e(name: str, recipe: ParamRecipe, text: str, words: str, timing: tuple[float, float] = (1.5, 1.5),
       ambience: bool = False) -> CatalogEntry:  # fmt: skip
    return CatalogEntry(
        name=name,
        recipe=recipe,
        text=text,
        words=tuple(words.split(",")),
        duration_s=timing[0],
        advance_s=timing[1],
        ambience=ambience,
    )


_ENTRIES = (
    _e(
        "rain",
        _plain(base.rain),
        "rain falling, rainfall on a roof, drizzle, downpour, storm rain",
        "rain,raining,rainfall,drizzle,downpour,rainstorm",
        (3.0, 3.0),
        True,
    ),
    _e(
        "wind",
        _plain(base.wind),
        "wind blowing, howling wind, gusts, breeze through trees",
        "wind,windy,breeze,gust,gusts,gale,howling",
        (3.0, 3.0),
        True,
    ),
    _e(
        "crowd",
        _plain(base.crowd),
        "crowd murmur, people chatting, busy cafe, market voices",
        "crowd,murmur,chatter,chatting,cafe,market,restaurant,audience",
        (2.5, 2.5),
        True,
    ),
    _e(
        "birds",
        _plain(base.birds),
        "birds chirping, birdsong in a forest, morning birds",
        "bird,birds,birdsong,chirping,forest,songbirds,seagulls",
        (3.0, 3.0),
        True,
    ),
    _e(
        "room tone",
        _plain(base.room_tone),
        "quiet room tone, indoor silence, air conditioning",
        "room tone,silence,indoors",
        (3.0, 3.0),
        True,
    ),
    _e(
        "waves",
        EXTRA_RECIPES["waves"],
        "ocean waves on a beach, sea surf, shore",
        "waves,ocean,sea,surf,beach,shore",
        (4.0, 4.0),
        True,
    ),
    _e(
        "crickets",
        EXTRA_RECIPES["crickets"],
        "crickets chirping at night, insects in the grass",
        "crickets,cricket,insects,cicadas",
        (3.0, 3.0),
        True,
    ),
    _e(
        "water",
        EXTRA_RECIPES["water"],
        "running water, a stream, a river flowing, tap water",
        "water,stream,river,brook,creek,tap,faucet,fountain",
        (3.0, 3.0),
        True,
    ),
    _e(
        "fire",
        EXTRA_RECIPES["fire"],
        "fire crackling, campfire, fireplace burning",
        "fire,campfire,fireplace,crackling,flames,burning",
        (3.0, 3.0),
        True,
    ),
    _e(
        "hum",
        EXTRA_RECIPES["hum"],
        "electrical hum, machine hum, spaceship interior drone",
        "hum,humming,drone,buzz,generator,machinery",
        (3.0, 3.0),
        True,
    ),
    _e(
        "footsteps",
        _plain(base.footsteps),
        "footsteps walking, steps on a floor, someone walking",
        "footsteps,footstep,steps,walking,walks,running",
        (2.2, 2.3),
    ),
    _e(
        "door",
        _plain(base.door),
        "a door creaks open and shuts, door opening or closing",
        "door,doors,creak,creaks,creaking",
        (1.6, 1.7),
    ),
    _e("knock", _plain(base.knock), "knocking on a door, knock knock", "knock,knocks,knocking", (0.8, 0.9)),
    _e(
        "impact",
        _impact,
        "a heavy impact, a thud, a crash, a slam, something hits the floor",
        "impact,thud,slam,slams,crash,bang,hit,punch",
        (1.0, 0.9),
    ),
    _e(
        "thunder",
        _plain(base.thunder),
        "thunder rumbling, a thunderclap in a storm",
        "thunder,thunderclap,thunderstorm,lightning",
        (3.0, 1.2),
    ),
    _e(
        "bell",
        _plain(base.bell),
        "a bell rings, church bell tolling, chime",
        "bell,bells,chime,chimes,tolls,toll,tolling",
        (3.0, 1.0),
    ),
    _e(
        "whoosh",
        _plain(base.whoosh),
        "a whoosh, something flies past, swish, swoosh",
        "whoosh,swish,swoosh,woosh",
        (1.0, 0.8),
    ),
    _e(
        "dog",
        EXTRA_RECIPES["dog"],
        "a dog barking, dogs bark, puppy yapping, woof",
        "dog,dogs,bark,barks,barking,puppy,woof",
        (1.5, 1.2),
    ),
    _e(
        "cat",
        EXTRA_RECIPES["cat"],
        "a cat meowing, kitten meow, purring cat",
        "cat,cats,meow,meows,kitten",
        (1.2, 1.0),
    ),
    _e(
        "baby",
        EXTRA_RECIPES["baby"],
        "a baby crying, infant wailing",
        "baby,babies,infant,crying,cries",
        (2.5, 2.0),
    ),
    _e(
        "glass",
        EXTRA_RECIPES["glass"],
        "glass breaking, a window shatters, bottle smashing",
        "glass,shatter,shatters,shattering,smash,smashes",
        (1.2, 1.0),
    ),
    _e(
        "applause",
        EXTRA_RECIPES["applause"],
        "applause, audience clapping, people cheering and clapping",
        "applause,clapping,claps,clap,cheering,ovation",
        (3.0, 2.5),
    ),
    _e(
        "car",
        EXTRA_RECIPES["car"],
        "a car passing by, traffic on a road, vehicle driving past",
        "car,cars,traffic,vehicle,truck,motorbike",
        (3.0, 2.0),
    ),
    _e(
        "engine",
        EXTRA_RECIPES["engine"],
        "an engine idling, motor running, spaceship engine rumble",
        "engine,engines,motor,idling,spaceship,rocket",
        (3.0, 2.0),
    ),
    _e(
        "horn",
        EXTRA_RECIPES["horn"],
        "a car horn honking, a beep of a horn",
        "horn,honk,honks,honking",
        (1.0, 1.0),
    ),
    _e(
        "siren",
        EXTRA_RECIPES["siren"],
        "a police siren wailing, ambulance siren",
        "siren,sirens,ambulance,police",
        (3.0, 2.0),
    ),
    _e(
        "phone",
        EXTRA_RECIPES["phone"],
        "a telephone ringing, phone rings",
        "phone,telephone,ringing,rings,cellphone",
        (2.5, 2.0),
    ),
    _e(
        "beep",
        EXTRA_RECIPES["beep"],
        "computer beeps, electronic bleeps, a console beeping",
        "beep,beeps,beeping,bleep,computer,console",
        (1.5, 1.2),
    ),
    _e(
        "alarm",
        EXTRA_RECIPES["alarm"],
        "an alarm clock ringing, buzzer, fire alarm",
        "alarm,buzzer",
        (2.0, 1.5),
    ),
    _e(
        "gunshot",
        EXTRA_RECIPES["gunshot"],
        "a gunshot, a pistol shot, gun firing",
        "gunshot,gunshots,gun,shot,shots,pistol,rifle",
        (1.0, 0.8),
    ),
    _e(
        "explosion",
        EXTRA_RECIPES["explosion"],
        "an explosion, a bomb blast, a massive boom",
        "explosion,explosions,explodes,blast,bomb,boom",
        (2.5, 1.5),
    ),
    _e(
        "laser",
        EXTRA_RECIPES["laser"],
        "a sci-fi laser gun zap, blaster shot, pew pew",
        "laser,lasers,blaster,zap,zaps,phaser",
        (1.0, 0.8),
    ),
    _e(
        "typing",
        EXTRA_RECIPES["typing"],
        "typing on a keyboard, keys clicking, typewriter",
        "typing,types,keyboard,typewriter,keys",
        (2.0, 1.5),
    ),
    _e(
        "clock",
        EXTRA_RECIPES["clock"],
        "a clock ticking, tick tock of a wall clock",
        "clock,ticking,tick,tock,ticks",
        (3.0, 2.0),
    ),
    _e(
        "drip",
        EXTRA_RECIPES["drip"],
        "water dripping, drops falling in a cave",
        "drip,drips,dripping,drops",
        (2.0, 1.5),
    ),
    _e(
        "bubbles",
        EXTRA_RECIPES["bubbles"],
        "bubbling liquid, boiling pot, bubbles underwater",
        "bubbles,bubbling,boiling,underwater",
        (2.0, 1.5),
    ),
    _e(
        "splash",
        EXTRA_RECIPES["splash"],
        "a splash into water, something falls in a pond",
        "splash,splashes,splashing,plunge",
        (1.2, 1.0),
    ),
    _e("owl", EXTRA_RECIPES["owl"], "an owl hooting at night", "owl,owls,hoot,hoots,hooting", (1.6, 1.4)),
    _e(
        "heartbeat",
        EXTRA_RECIPES["heartbeat"],
        "a heartbeat pounding, heart beating",
        "heartbeat,heart,pulse",
        (3.0, 2.0),
    ),
    _e(
        "paper",
        EXTRA_RECIPES["paper"],
        "paper rustling, pages turning, a letter unfolded",
        "paper,rustle,rustling,pages,page,newspaper,letter",
        (1.5, 1.2),
    ),
    _e(
        "struck",
        EXTRA_RECIPES["struck"],
        "a struck object, a pan clanging, a metal clang, a bottle clink",
        "clang,clank,clink,pan,pot,ding",
        (1.2, 1.0),
    ),
    _e(
        "horse",
        EXTRA_RECIPES["horse"],
        "a horse galloping, hooves on a road",
        "horse,horses,hooves,gallop",
        (3.0, 2.0),
    ),
)
CATALOG: dict[str, CatalogEntry] = {e.name: e for e in _ENTRIES}
"""Recipe name -> entry (42 recipes)."""

_WORD_INDEX = [(re.compile(rf"\b{re.escape(w)}\b"), e.name) for e in _ENTRIES for w in e.words]


def keyword_recipe(text: str) -> str | None:
    """The recipe whose whole word appears first in ``text`` (never a match inside another word)."""
    low = text.lower()
    hits = [(m.start(), -len(m.group(0)), name) for rx, name in _WORD_INDEX if (m := rx.search(low))]
    return min(hits)[2] if hits else None


def timing(description: str) -> tuple[float, float]:
    """Planned ``(duration_s, advance_s)`` of an effect (by its words; 1.5 s otherwise)."""
    name = keyword_recipe(description)
    return (CATALOG[name].duration_s, CATALOG[name].advance_s) if name else (1.5, 1.5)
