"""Deterministic filler text for turns and preambles that carry token counts but no text.

Our simulator counts one whitespace-separated word as one token, so ``n`` words stand for
``n`` tokens. The vocabulary is short common English words, most of which are also one
token in real BPE tokenizers (prompt.py keeps, per tokenizer, only those that provably are:
the ``tokenizer`` prompt mode). The words depend only on the seed and the key (trajectory,
phase, turn), so a rerun sends the same text.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

_VOCABULARY = """the of and to in is it that for on was with as be at by this had not are but from or have
    an they which one you were her all she there would their we him been has when who will more no
    if out so said what up its about into than them can only other new some could time these two
    may then do first any my now such like our over man me even most made after also did many
    before must through back years where much your way well down should because each just those
    people how too little state good very make world still own see men work long get here between
    both life being under never day same another know while last might us great old year off come
    since against go came right used take three states himself few house use during without again
    place around however home small found thought went say part once general high upon school every
    don does got united left number course war until always away something fact though water less
    public put think almost hand enough far took head yet government system better set told nothing
    night end why called didn eyes find going look asked later knew point next program city business
    give group toward young days let room president side social given present several order national
    second possible rather per face among form important often things looked early white case john
    become large big need four within felt along children saw best church ever least power development
    light thing seemed family interest want members others mind country area"""
WORDS: tuple[str, ...] = tuple(_VOCABULARY.split())


def filler_words(seed: int, key: str, count: int) -> str:
    """``count`` space-separated words drawn from a generator seeded by ``seed`` and ``key``."""
    return filler_from(WORDS, seed, key, count)


def filler_from(vocabulary: Sequence[str], seed: int, key: str, count: int) -> str:
    """Like :func:`filler_words`, drawing from ``vocabulary``."""
    if count <= 0:
        return ""
    # A str seed is hashed with SHA-512 by random.Random: stable across processes and runs.
    rng = random.Random(f"{seed}/{key}")
    return " ".join(rng.choices(vocabulary, k=count))
