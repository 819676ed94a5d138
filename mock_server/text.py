"""Deterministic prose for generated pages: varied words, sentences, and a few foreign scripts.

Text is drawn from a fixed pseudo-word vocabulary with a seeded `random.Random`, so a page's words
depend only on (seed, page). Foreign-script word lists let charset faults carry characters that a
wrong decoding visibly breaks.
"""

from __future__ import annotations

import random

_SYLLABLES = (
    *("ka", "ri", "to", "ne", "sa", "lu", "mi", "do", "ve", "ra", "po", "li", "an", "el", "or"),
    *("un", "is", "at", "en", "ex", "ol", "im", "ar", "es", "qu", "tra", "pre", "con", "sta"),
    *("ber", "mon", "fel", "gar", "hul", "dor", "vin", "tes", "pal", "cor", "sen", "mar", "lor"),
    "nis",
)


def _build_vocabulary(size: int) -> tuple[str, ...]:
    rng = random.Random("vocabulary")
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return tuple(sorted(words))


VOCABULARY = _build_vocabulary(2000)

# Words for pages served in another charset; each list encodes in the charsets that use it.
FOREIGN_WORDS: dict[str, tuple[str, ...]] = {
    "iso-8859-1": ("café", "naïve", "Zürich", "façade", "señor", "déjà", "über", "crème"),
    "windows-1251": ("привет", "мир", "страница", "ссылка", "поиск", "данные", "узел"),
    "koi8-r": ("сеть", "паук", "город", "книга", "время", "слово", "дом"),
    "shift_jis": ("東京", "日本語", "検索", "頁", "接続", "速度", "網"),
}
FOREIGN_CHARSETS: tuple[str, ...] = tuple(FOREIGN_WORDS)


def sentence(rng: random.Random, extra_words: tuple[str, ...] = ()) -> str:
    """Return one capitalised sentence of 6 to 18 words."""
    words = rng.choices(VOCABULARY, k=rng.randint(6, 18))
    if extra_words:
        words[rng.randrange(len(words))] = rng.choice(extra_words)
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraph(rng: random.Random, extra_words: tuple[str, ...] = ()) -> str:
    """Return two to five sentences."""
    return " ".join(sentence(rng, extra_words) for _ in range(rng.randint(2, 5)))


def title_words(rng: random.Random, extra_words: tuple[str, ...] = ()) -> str:
    """Return a short capitalised title."""
    words = [word.capitalize() for word in rng.choices(VOCABULARY, k=rng.randint(2, 4))]
    if extra_words:
        words.append(rng.choice(extra_words))
    return " ".join(words)


def perturb(paragraphs: tuple[str, ...], rng: random.Random, words: int) -> tuple[str, ...]:
    """Replace `words` random words of the paragraphs, keeping the rest: a near-duplicate."""
    changed = list(paragraphs)
    for _ in range(words):
        index = rng.randrange(len(changed))
        paragraph_words = changed[index].split(" ")
        paragraph_words[rng.randrange(len(paragraph_words))] = rng.choice(VOCABULARY)
        changed[index] = " ".join(paragraph_words)
    return tuple(changed)
