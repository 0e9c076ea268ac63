"""A few thousand varied English sentences, composed here so benchmarks need no download.

`corpus(split)` returns sentences and short paragraphs for one split. The splits never share a
sentence, and the held-out split is also built from its own templates, so a compression step
tuned on "train" (calibration, distillation, search) is judged on text whose very sentence
shapes it never saw:

    train    templates 0, 1, 2, 3 of every 5    (calibration, distillation, search)
    heldout  template 4 of every 5              (the figures the benchmark prints)

Deterministic: the same seed gives the same text on every machine.
"""

from __future__ import annotations

import random

SUBJECTS = [
    "the old lighthouse keeper", "my neighbour", "a young engineer", "the city council",
    "our small team", "the museum guide", "a retired teacher", "the night nurse",
    "the chess club", "a travelling musician", "the head chef", "my grandmother",
    "the new intern", "a quiet student", "the village baker", "the research group",
    "a stray cat", "the football coach", "the local library", "an experienced pilot",
    "the marketing department", "a curious child", "the ferry captain", "the farmers",
]  # fmt: skip
VERBS = [
    "repaired", "painted", "described", "discovered", "borrowed", "cleaned", "measured",
    "photographed", "ignored", "questioned", "delivered", "rebuilt", "recommended",
    "studied", "sold", "explained", "designed", "forgot", "carried", "tested",
]  # fmt: skip
OBJECTS = [
    "the broken bicycle", "a map of the harbour", "the annual budget", "an ancient coin",
    "the kitchen window", "a handwritten letter", "the solar panels", "a wooden boat",
    "the train timetable", "a jar of honey", "the concert program", "an unusual recipe",
    "the garden fence", "a pile of old newspapers", "the weather station", "a red umbrella",
    "the software update", "a collection of stamps", "the mountain trail", "the spare keys",
]  # fmt: skip
PLACES = [
    "near the river", "in the town square", "at the airport", "behind the school",
    "on the top floor", "in a crowded market", "by the sea", "in the laboratory",
    "at the train station", "in the forest", "downtown", "in a small café",
    "at the hospital", "on the farm", "in the concert hall", "outside the bakery",
]  # fmt: skip
TIMES = [
    "yesterday", "last winter", "every Sunday", "early this morning", "after the storm",
    "before dinner", "in 1987", "during the holidays", "at midnight", "twice a week",
    "on a rainy Tuesday", "after the meeting", "for the first time", "long ago",
]  # fmt: skip
ADJECTIVES = [
    "surprising", "boring", "remarkable", "confusing", "delightful", "expensive", "fragile",
    "noisy", "peaceful", "dangerous", "useful", "strange", "beautiful", "disappointing",
]  # fmt: skip
TOPICS = [
    "climate change", "public transport", "quantum computing", "medieval history",
    "healthy eating", "space exploration", "renewable energy", "online privacy",
    "urban gardening", "machine learning", "classical music", "ocean currents",
    "volcanoes", "ancient languages", "electric cars", "sleep research",
]  # fmt: skip
FEELINGS = ["happy", "worried", "tired", "excited", "curious", "annoyed", "proud", "calm"]

TEMPLATES = [
    "{S} {V} {O} {P} {T}.",
    "{T}, {S} {V} {O}.",
    "Did {S} really say that {O} was {A}?",
    "Nobody expected {S} to find {O} so {A}.",
    "The lecture on {C} was {A}, according to {S}.",
    "{S} felt {F} after reading about {C}.",
    "If {S} had not {V} {O}, the day would have been {A}.",
    "Why is {O} always kept {P}?",
    "{S} wrote a {A} essay about {C} {T}.",
    "We met {S} {P} and talked about {C} for hours.",
    "According to {S}, {C} is more {A} than most people think.",
    "Please ask {S} whether {O} can be {V} {T}.",
    "Although it was {A}, {S} {V} {O} without complaint.",
    "{S} keeps {O} {P}, which I find {A}.",
    "The report on {C} mentions that {S} {V} {O}.",
    "Everyone was {F} when {S} {V} {O} {P}.",
    "I have never seen anything as {A} as {O} {P}.",
    "{S} and {S2} argued about {C} {T}.",
    "There is a {A} story about how {S} {V} {O}.",
    "Could you tell {S} that {O} is waiting {P}?",
    "Instead of working on {C}, {S} {V} {O}.",
    "{T} the news about {C} made {S} {F}.",
    "It is {A} that {S} still has not {V} {O}.",
    "Some say {C} will change how {S} thinks about {O}.",
    "When {S} arrived {P}, {O} had already been {V}.",
]  # fmt: skip


def _fill(template: str, rng: random.Random) -> str:
    subject, other = rng.sample(SUBJECTS, 2)
    text = template.format(
        S=subject, S2=other, V=rng.choice(VERBS), O=rng.choice(OBJECTS), P=rng.choice(PLACES),
        T=rng.choice(TIMES), A=rng.choice(ADJECTIVES), C=rng.choice(TOPICS),
        F=rng.choice(FEELINGS),
    )  # fmt: skip
    return text[0].upper() + text[1:]


def sentences(split: str, n: int, seed: int = 0) -> list[str]:
    """`n` distinct sentences of one split ("train" or "heldout")."""
    if split not in ("train", "heldout"):
        raise ValueError(f"unknown split '{split}': use train or heldout")
    templates = [t for i, t in enumerate(TEMPLATES) if (i % 5 == 4) == (split == "heldout")]
    rng = random.Random(f"{split}-{seed}")
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen[_fill(rng.choice(templates), rng)] = None
    return list(seen)


def corpus(split: str, n: int, seed: int = 0, paragraph_share: float = 0.3) -> list[str]:
    """`n` texts of one split: single sentences, and a `paragraph_share` of paragraphs of 3-9
    sentences (long enough to fill 128 tokens), shuffled."""
    rng = random.Random(f"corpus-{split}-{seed}")
    n_par = int(n * paragraph_share)
    lengths = [rng.randint(3, 9) for _ in range(n_par)]
    pool = sentences(split, n - n_par + sum(lengths), seed)
    texts, cursor = pool[: n - n_par], n - n_par
    for length in lengths:
        texts.append(" ".join(pool[cursor : cursor + length]))
        cursor += length
    rng.shuffle(texts)
    return texts


if __name__ == "__main__":
    for text in corpus("heldout", 6):
        print(text)
