"""The token rule other components rely on: counts, the hashed sequence, and conversation growth."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentperf.sim.tokens import (
    MESSAGE_OVERHEAD,
    PRIMING,
    count_prompt_tokens,
    generate_words,
    message_token_ids,
    prompt_token_ids,
)

words = st.lists(st.sampled_from(["a", "bc", "def", "x\ty", "z\n"]), max_size=20).map(" ".join)


def test_constants_are_the_published_rule() -> None:
    assert (MESSAGE_OVERHEAD, PRIMING) == (4, 3)


def test_count_is_words_plus_overheads() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "you are  a helper"},
        {"role": "user", "content": [{"type": "text", "text": "fix the"}, {"type": "text", "text": "bug"}]},
        {"role": "assistant", "content": None},
    ]
    assert count_prompt_tokens(messages) == (4 + 4) + (3 + 4) + (0 + 4) + 3


@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "tool"]), words), max_size=8))
def test_hashed_sequence_has_the_counted_length(pairs: list[tuple[str, str]]) -> None:
    messages = [{"role": role, "content": text} for role, text in pairs]
    assert len(prompt_token_ids(messages)) == count_prompt_tokens(messages)


@given(words, st.integers(1, 40), words)
def test_next_turn_extends_previous_prompt_and_completion(first: str, completion_len: int, new: str) -> None:
    history = [{"role": "system", "content": "pre amble"}, {"role": "user", "content": first}]
    completion_words = generate_words(random.Random(1), completion_len)
    # What a client sees when it concatenates the streamed deltas (" " + word after the first).
    completion = completion_words[0] + "".join(" " + w for w in completion_words[1:])
    follow_up = [*history, {"role": "assistant", "content": completion}, {"role": "tool", "content": new}]
    prev_prompt = count_prompt_tokens(history)
    assert count_prompt_tokens(follow_up) == (
        prev_prompt + completion_len + len(new.split()) + 2 * MESSAGE_OVERHEAD
    )
    # Token for token, the follow-up starts with the previous prompt plus the generated words.
    assert (
        prompt_token_ids(follow_up)[: prev_prompt + completion_len]
        == prompt_token_ids(history) + completion_words
    )


def test_generated_words_are_seeded_and_plain() -> None:
    a = generate_words(random.Random("s"), 50)
    assert a == generate_words(random.Random("s"), 50)
    assert all(w and w.isascii() and not any(c.isspace() for c in w) for w in a)
    assert message_token_ids("user", "a b")[1] == "user"
