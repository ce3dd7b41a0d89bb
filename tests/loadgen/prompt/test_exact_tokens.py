"""Exact token counts under a real tokenizer (phi-3-mini, a SentencePiece BPE without a
pre-tokenizer, and a small byte-level BPE trained here): filler and real text, counts from 0
to large, checked by encoding the result with the tokenizer itself."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from agentperf.errors import ConfigError
from agentperf.loadgen.filler import WORDS
from agentperf.loadgen.prompt import ExactTokens, PromptBuilder, PromptSettings, exact_tokens, load_tokenizer

TEXTS = [
    "def area(r):\n    return 3.14159 * r ** 2  # héllo wörld 🎉\n",
    "Traceback (most recent call last):\n  File \"x.py\", line 3\nModuleNotFoundError: No module named 'numpy'\n\n",
    "中文文本，测试分词。" * 7,
    "   \n\t  leading and trailing whitespace   \n",
    "x",
    "🎉🎉 emoji-only 🎉",
    "lone surrogate \ud800 in the middle",
    "a" * 3000,
]


def tokens(tok: Tokenizer, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False).ids) if text else 0


@pytest.fixture(scope="module")
def phi3(phi3_path: str) -> ExactTokens:
    return exact_tokens(phi3_path)


@pytest.fixture(scope="module")
def phi3_tok(phi3_path: str) -> Tokenizer:
    return load_tokenizer(phi3_path)


def counts(rng: random.Random, k: int, high: int) -> list[int]:
    return [0, 1, 2, 3, high, *(rng.randrange(1, high) for _ in range(k))]


def test_vocabulary_words_are_single_tokens(phi3: ExactTokens, phi3_tok: Tokenizer) -> None:
    assert len(phi3.vocabulary) >= 200
    assert set(phi3.vocabulary) <= set(WORDS)
    assert all(tokens(phi3_tok, w) == 1 for w in phi3.vocabulary)


def test_filler_has_exactly_n_tokens(phi3: ExactTokens, phi3_tok: Tokenizer) -> None:
    rng = random.Random(1)
    for i, n in enumerate([*counts(rng, 150, 600), 5000, 30000]):
        text = phi3.filler(3, f"t/{i}", n)
        assert tokens(phi3_tok, text) == n, n
        assert phi3.count(text) == n


def test_filler_is_deterministic(phi3: ExactTokens) -> None:
    assert phi3.filler(3, "t/0/1/input", 50) == phi3.filler(3, "t/0/1/input", 50)
    assert phi3.filler(3, "t/0/1/input", 50) != phi3.filler(4, "t/0/1/input", 50)


def test_real_text_is_cut_or_padded_to_exactly_n_tokens(phi3: ExactTokens, phi3_tok: Tokenizer) -> None:
    rng = random.Random(2)
    checked = 0
    for t, text in enumerate(TEXTS):
        for n in counts(rng, 40, 400):
            fitted = phi3.fit(text, n, 5, f"k/{t}/{n}")
            assert tokens(phi3_tok, fitted) == n, (text[:30], n)
            checked += 1
    assert checked == len(TEXTS) * 45


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), n=st.integers(0, 250))
def test_any_text_fits_exactly(phi3: ExactTokens, phi3_tok: Tokenizer, text: str, n: int) -> None:
    assert tokens(phi3_tok, phi3.fit(text, n, 9, "prop")) == n


def test_fitting_keeps_the_real_text(phi3: ExactTokens, phi3_tok: Tokenizer) -> None:
    text = TEXTS[1]
    n = tokens(phi3_tok, text)
    assert phi3.fit(text, n, 0, "k") == text
    longer = phi3.fit(text, n + 25, 0, "k")
    assert longer.startswith(text) and tokens(phi3_tok, longer) == n + 25
    shorter = phi3.fit(text, n - 10, 0, "k")
    assert text.startswith(shorter) and tokens(phi3_tok, shorter) == n - 10


def test_large_real_text(phi3: ExactTokens, phi3_tok: Tokenizer) -> None:
    text = (TEXTS[0] + TEXTS[1]) * 120
    total = tokens(phi3_tok, text)
    for n in (total - 1, total // 2, total + 777):
        assert tokens(phi3_tok, phi3.fit(text, n, 0, "big")) == n


def test_byte_level_bpe_tokenizer() -> None:
    # A GPT-2 style tokenizer (byte-level pre-tokenizer, "Ġ" word prefix), trained in-process.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [" ".join(random.Random(i).choices(WORDS, k=400)) for i in range(40)]
    tok.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=900, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    )
    exact = ExactTokens(tok, "trained-byte-level")
    rng = random.Random(3)
    for n in counts(rng, 60, 2000):
        assert tokens(tok, exact.filler(1, f"b/{n}", n)) == n
        for t, text in enumerate(TEXTS[:3]):
            assert tokens(tok, exact.fit(text, n, 1, f"b/{t}")) == n


def test_tokenizer_with_too_few_one_token_words() -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["zz qq"], trainers.BpeTrainer(vocab_size=300))
    with pytest.raises(ConfigError, match="one token"):
        ExactTokens(tok, "tiny")


def test_missing_tokenizer_is_a_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="tokenizer_path"):
        load_tokenizer("/nonexistent/tokenizer")
    with pytest.raises(ConfigError, match="needs tokenizer_path"):
        PromptBuilder(PromptSettings(mode="tokenizer"))
    with pytest.raises(ConfigError, match="prompt_mode"):
        PromptBuilder(PromptSettings(mode="chars"))
    with pytest.raises(ConfigError, match="history_text"):
        PromptBuilder(PromptSettings(history_text="both"))
