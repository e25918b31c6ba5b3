"""Common object classes and their typical real heights, and finding a class in a name: a file stem
(`dog_3`, `two-dogs`), a text prompt (`a dog`) or a model's label (`potted plant`).

Heights are in metres, of the object as it usually stands, for floor placement (pasted cut-outs are
sized by them). They are round, typical values, not averages of a survey:
- person 1.7: adult stature is about 1.75 m for men and 1.62 m for women (NCD-RisC, eLife 2016, world
  means for people born 1996); child 1.2: a 7-year-old (WHO growth reference, 2007);
- dog 0.6, cat 0.3: standing height at the head of a medium dog (shoulder ~0.5 m) and of a house cat
  (shoulder ~0.25 m); horse 1.7 at the head (withers 1.5-1.6 m for riding horses); cow 1.5; sheep 0.9;
- chair 0.9 (seat 0.45 m plus backrest, ISO/BIFMA office and dining chairs), table 0.75 (dining and desk
  height, BS EN 527 / ANSI-BIFMA 0.72-0.76 m), sofa 0.85, bed 0.6, bench 0.85, desk 0.75;
- plant 0.6 (a potted house plant), bicycle 1.05 (adult bicycle to the saddle and bars), motorcycle 1.1,
  car 1.5 (a saloon or hatchback, 1.4-1.6 m), bus 3.0, truck 3.0;
- cup 0.1, mug 0.1, bottle 0.3 (a 0.75 l wine bottle is 0.30 m), vase 0.3, backpack 0.5, suitcase 0.65
  (checked luggage), umbrella 0.9 (closed, standing), laptop 0.25 (open), tv 0.6 (a 32-40" screen on its
  stand), lamp 1.6 (a floor lamp), teddy 0.35, ball 0.22 (a football), toilet 0.75.
Plurals and common synonyms name the same class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# class -> (typical height in metres, the words that name it besides itself)
CLASSES: dict[str, tuple[float, tuple[str, ...]]] = {
    "person": (1.7, ("persons", "people", "man", "men", "woman", "women", "adult", "adults", "human", "humans", "pedestrian", "pedestrians")),
    "child": (1.2, ("children", "kid", "kids", "boy", "boys", "girl", "girls")),
    "dog": (0.6, ("dogs", "puppy", "puppies")),
    "cat": (0.3, ("cats", "kitten", "kittens")),
    "horse": (1.7, ("horses", "pony", "ponies")),
    "cow": (1.5, ("cows", "cattle")),
    "sheep": (0.9, ()),
    "chair": (0.9, ("chairs", "armchair", "armchairs")),
    "table": (0.75, ("tables",)),
    "desk": (0.75, ("desks",)),
    "sofa": (0.85, ("sofas", "couch", "couches")),
    "bed": (0.6, ("beds",)),
    "bench": (0.85, ("benches",)),
    "plant": (0.6, ("plants", "houseplant", "houseplants")),
    "bicycle": (1.05, ("bicycles", "bike", "bikes")),
    "motorcycle": (1.1, ("motorcycles", "motorbike", "motorbikes")),
    "car": (1.5, ("cars",)),
    "bus": (3.0, ("buses",)),
    "truck": (3.0, ("trucks", "lorry", "lorries")),
    "cup": (0.1, ("cups",)),
    "mug": (0.1, ("mugs",)),
    "bottle": (0.3, ("bottles",)),
    "vase": (0.3, ("vases",)),
    "backpack": (0.5, ("backpacks", "rucksack", "rucksacks")),
    "suitcase": (0.65, ("suitcases",)),
    "umbrella": (0.9, ("umbrellas",)),
    "laptop": (0.25, ("laptops",)),
    "tv": (0.6, ("tvs", "television", "televisions", "monitor", "monitors")),
    "lamp": (1.6, ("lamps",)),
    "teddy": (0.35, ("teddies",)),
    "ball": (0.22, ("balls", "football", "footballs")),
    "toilet": (0.75, ("toilets",)),
}

_BY_WORD = {word: name for name, (_, words) in CLASSES.items() for word in (name, *words)}


@dataclass(frozen=True)
class ObjectClass:
    name: str  # the class's own name, e.g. "dog" for "puppies"
    height_m: float


def words_of(text: str) -> list[str]:
    """The lower-case words of a name: runs of letters, so `two-dogs_3.png` gives two, dogs, png."""
    return re.findall(r"[a-z]+", text.lower())


def find_class(text: str) -> ObjectClass | None:
    """The first known class named by a whole word of `text`: `dog_3` and `two-dogs` are dogs, `carpet` is
    no car. None when no word names one."""
    for word in words_of(text):
        if word in _BY_WORD:
            name = _BY_WORD[word]
            return ObjectClass(name, CLASSES[name][0])
    return None
