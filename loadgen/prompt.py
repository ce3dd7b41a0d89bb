"""Prompt synthesis: the text of every message an agent sends, and its expected token count.

Modes (``PromptSettings.mode``, the loadgen's ``prompt_mode``):

- ``words`` (default): a count of n tokens becomes filler of exactly n whitespace words (the
  built-in simulator counts one word as one token); real text from the trajectory verbatim.
- ``tokenizer``: with a ``tokenizer.json``, every new input (a turn's input, a phase
  preamble) is exactly the trajectory's count of tokens under that tokenizer, the content
  tokenized on its own without special tokens. Filler is drawn from words proven to be one
  token each wherever they stand (:class:`ExactTokens`); real text is cut at a token
  boundary or padded with such filler, and verified by encoding.
- ``calibrated``: no tokenizer; filler is sized with a tokens-per-word ratio learnt from the
  server's ``usage.prompt_tokens`` (sum of reported tokens / sum of words sent, per worker,
  starting at 1.0); real text verbatim.

Whatever the mode, :meth:`PromptBuilder.observe` compares the server's
``usage.prompt_tokens`` with the prompt tokens expected from the contents (what the chat
template adds on a real server shows up there) and :meth:`PromptBuilder.stats` reports it.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from agentperf.errors import ConfigError
from agentperf.loadgen.client import Exchange
from agentperf.loadgen.filler import WORDS, filler_from, filler_words
from agentperf.trajectory import Phase, Turn

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

PROMPT_MODES = ("words", "tokenizer", "calibrated")
HISTORY_TEXTS = ("generated", "recorded")

# Longer texts are tokenized on a worker thread. Tokenizers without a pre-tokenizer (the
# Llama / Phi SentencePiece BPE ones) take about 1 ms per 1K tokens and grow faster than
# linearly, and the event loop must keep reading every other agent's stream meanwhile.
_INLINE_CHARS = 4096
_MIN_VOCABULARY = 16
_VOCABULARY_CHECK_WORDS = 4096
_PAD_TRIES = 3
_SEAM_CHARS = 256
_FIT_CACHE_CHARS = 32 << 20
_COUNT_CACHE_ENTRIES = 1 << 16

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


@dataclass(frozen=True)
class PromptSettings:
    """How prompts are built: ``mode``, the tokenizer for ``tokenizer`` mode, what the history
    keeps of each reply (``generated``: what the server streamed; ``recorded``: the
    trajectory's output_text where it has one), and the tokens-per-word estimate the
    ``calibrated`` mode starts from (a later level's workers may carry the last one over)."""

    mode: str = "words"
    tokenizer_path: str = ""
    history_text: str = "generated"
    tokens_per_word: float = 1.0

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        if self.mode not in PROMPT_MODES:
            raise ConfigError(f"prompt_mode {self.mode!r}: expected one of {', '.join(PROMPT_MODES)}")
        if self.history_text not in HISTORY_TEXTS:
            raise ConfigError(
                f"history_text {self.history_text!r}: expected one of {', '.join(HISTORY_TEXTS)}"
            )
        if self.mode == "tokenizer" and not self.tokenizer_path:
            raise ConfigError("prompt_mode 'tokenizer' needs tokenizer_path (a tokenizer.json or its folder)")
        if not self.tokens_per_word > 0:
            raise ConfigError(f"tokens_per_word {self.tokens_per_word}: must be positive")


class Content(NamedTuple):
    """A message content and its expected size in the mode's units (words, or tokens in
    ``tokenizer`` mode)."""

    text: str
    units: float


@dataclass(frozen=True)
class PromptStats:
    """Expected vs reported prompt tokens since the last :meth:`PromptBuilder.reset_stats`."""

    samples: int = 0  # requests whose response carried usage.prompt_tokens
    error_mean: float = 0.0  # mean of usage.prompt_tokens - expected prompt tokens
    error_max: float = 0.0  # largest |usage.prompt_tokens - expected prompt tokens|
    words_per_token: float = 0.0  # filler sizing: 1 (words), the estimate (calibrated), 0 (tokenizer)


def merge_stats(parts: Sequence[PromptStats]) -> PromptStats:
    """Several workers' stats as one: samples summed, the mean and the words-per-token ratio
    weighted by samples (a plain mean of the ratios while no worker has any), the max the
    largest."""
    samples = sum(p.samples for p in parts)
    if not parts:
        return PromptStats()
    if not samples:
        return PromptStats(words_per_token=sum(p.words_per_token for p in parts) / len(parts))
    return PromptStats(
        samples=samples,
        error_mean=sum(p.error_mean * p.samples for p in parts) / samples,
        error_max=max(p.error_max for p in parts),
        words_per_token=sum(p.words_per_token * p.samples for p in parts) / samples,
    )


class Calibration:
    """Running tokens-per-word estimate: reported prompt tokens over words sent, summed
    (``start`` until the first observation)."""

    __slots__ = ("_start", "_tokens", "_words")

    def __init__(self, start: float = 1.0) -> None:
        self._start = start
        self._tokens = 0.0
        self._words = 0.0

    @property
    def tokens_per_word(self) -> float:
        return self._tokens / self._words if self._words > 0 else self._start

    def learn(self, words: float, tokens: int) -> None:
        if words > 0 and tokens > 0:
            self._words += words
            self._tokens += tokens


class _Errors:
    __slots__ = ("max_abs", "samples", "total")

    def __init__(self) -> None:
        self.samples = 0
        self.total = 0.0
        self.max_abs = 0.0

    def add(self, error: float) -> None:
        self.samples += 1
        self.total += error
        self.max_abs = max(self.max_abs, abs(error))


class _Lru(Generic[K, V]):
    """Least-recently-used map bounded by the summed cost of its values."""

    def __init__(self, budget: int) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._budget = budget
        self._used = 0

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, cost: int) -> None:
        if cost > self._budget:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._used -= old[1]
        self._items[key] = (value, cost)
        self._used += cost
        while self._used > self._budget:
            _, (_, freed) = self._items.popitem(last=False)
            self._used -= freed


def _words(text: str) -> float:
    return float(len(text.split()))


def _clean(text: str) -> str:
    # The Rust tokenizer rejects lone surrogates; they are not text, so they become "?" as
    # the UTF-8 encoder's replacement writes them (the same rule as agentperf.tokencount).
    return text.encode("utf-8", "replace").decode("utf-8")


def _join(base: str, extra: str) -> str:
    if not extra:
        return base
    return f"{base} {extra}" if base else extra


async def _off_loop(size: int, fn: Callable[..., R], *args: object) -> R:
    if size <= _INLINE_CHARS:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


def load_tokenizer(path: str) -> Tokenizer:
    """A ``tokenizer.json`` (or the folder holding one), read from disk, never downloaded."""
    from tokenizers import Tokenizer

    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # the library raises plain Exception subclasses from Rust
        raise ConfigError(f"tokenizer_path {path!r}: cannot load {file}: {exc}") from exc


class ExactTokens:
    """Texts of an exact token count under one tokenizer.

    A count is that of the text tokenized alone without special tokens, as the server
    tokenizes a message's content inside its chat template (the template's own tokens and
    the seams with them are not part of it).
    """

    def __init__(self, tokenizer: Tokenizer, name: str) -> None:
        self._tok = tokenizer
        self.name = name
        self.vocabulary = self._one_token_words()

    def count(self, text: str) -> int:
        """Tokens of ``text``."""
        return len(self._encode(_clean(text)).ids) if text else 0

    def filler(self, seed: int, key: str, n: int) -> str:
        """Exactly ``n`` tokens of deterministic filler (``n`` words of the vocabulary)."""
        return filler_from(self.vocabulary, seed, key, n)

    def fit(self, text: str, n: int, seed: int, key: str) -> str:
        """``text`` cut or padded to exactly ``n`` tokens.

        Longer text is cut after its n-th token (at a character boundary; a character split
        over several byte tokens is kept whole or dropped). Shorter text gets a space and
        filler words. Each candidate is encoded again; if the seam between the real text and
        the filler changes the count, the filler is resized, and if it still does not settle
        some real text is given up for filler. Pure filler is always exact, so this ends.
        """
        if n <= 0:
            return ""
        text = _clean(text)
        enc = self._encode(text)
        total = len(enc.ids)
        if total == n:
            return text
        keep = min(total, n)
        while keep > 0:
            base = text if keep == total else text[: enc.offsets[keep - 1][1]]
            got = total if keep == total else self.count(base)
            if got == n:
                return base
            if got > n:
                keep -= got - n
                continue
            padded = self._pad(base, n - got, n, seed, key)
            if padded is not None:
                return padded
            keep -= max(1, keep // 16)
        return self.filler(seed, key, n)

    def _pad(self, base: str, pad: int, n: int, seed: int, key: str) -> str | None:
        for _ in range(_PAD_TRIES):
            candidate = _join(base, self.filler(seed, f"{key}/pad", pad))
            got = self.count(candidate)
            if got == n:
                return candidate
            pad += n - got
            if pad <= 0:
                return None
        return None

    def _encode(self, text: str) -> Encoding:
        # encode_batch releases the GIL (encode does not), so on a worker thread it really
        # runs beside the event loop.
        return self._tok.encode_batch([text], add_special_tokens=False)[0]

    def _one_token_words(self) -> tuple[str, ...]:
        """The filler words that are one token at the start and after a space next to any
        other: then n of them joined by spaces are n tokens. Every word of a pair that
        encodes to anything but two tokens is dropped (conservative), then a long sample is
        checked as a whole."""
        tok = self._tok
        alone = tok.encode_batch(list(WORDS), add_special_tokens=False)
        words = [w for w, e in zip(WORDS, alone, strict=True) if len(e.ids) == 1]
        pairs = [(a, b) for a in words for b in words]
        encoded = tok.encode_batch([f"{a} {b}" for a, b in pairs], add_special_tokens=False)
        merged = {w for pair, e in zip(pairs, encoded, strict=True) if len(e.ids) != 2 for w in pair}
        kept = tuple(w for w in words if w not in merged)
        if len(kept) < _MIN_VOCABULARY:
            raise ConfigError(
                f"tokenizer {self.name}: only {len(kept)} filler words are one token each "
                f"(need {_MIN_VOCABULARY}); use prompt_mode 'calibrated'"
            )
        sample = filler_from(kept, 0, "vocabulary-check", _VOCABULARY_CHECK_WORDS)
        if self.count(sample) != _VOCABULARY_CHECK_WORDS:
            raise ConfigError(
                f"tokenizer {self.name}: one-token filler words merge across spaces; "
                "use prompt_mode 'calibrated'"
            )
        return kept


@functools.lru_cache(maxsize=8)
def exact_tokens(path: str) -> ExactTokens:
    """The :class:`ExactTokens` of a tokenizer file, built once per process (about 0.4 s)."""
    return ExactTokens(load_tokenizer(path), path)


class _Sizer:
    """``words`` mode; the base of the others."""

    def words_per_token(self) -> float:
        return 1.0

    def filler(self, seed: int, key: str, n: int) -> Content:
        return Content(filler_words(seed, key, n), float(max(0, n)))

    async def fit(self, text: str, n: int, seed: int, key: str) -> Content:
        return Content(text, _words(text))

    async def measure(self, text: str, stable: bool = False) -> float:
        return _words(text)

    async def joined(self, head: str, body: Content) -> float:
        """Units of ``head``, a newline, then ``body`` (whose units are known)."""
        return _words(head) + body.units

    def tokens(self, units: float) -> float:
        return units

    def learn(self, units: float, reported: int) -> None:
        return None


class _CalibratedSizer(_Sizer):
    def __init__(self, start: float) -> None:
        self.calibration = Calibration(start)

    def words_per_token(self) -> float:
        return 1.0 / self.calibration.tokens_per_word

    def filler(self, seed: int, key: str, n: int) -> Content:
        words = 0 if n <= 0 else max(1, round(n / self.calibration.tokens_per_word))
        return Content(filler_words(seed, key, words), float(words))

    def tokens(self, units: float) -> float:
        return units * self.calibration.tokens_per_word

    def learn(self, units: float, reported: int) -> None:
        self.calibration.learn(units, reported)


class _TokenizerSizer(_Sizer):
    def __init__(self, exact: ExactTokens) -> None:
        self.exact = exact
        # Real texts repeat (every level replays the same trajectories): fit and count once.
        self._fits: _Lru[tuple[str, int, int, str], str] = _Lru(_FIT_CACHE_CHARS)
        self._counts: _Lru[str, int] = _Lru(_COUNT_CACHE_ENTRIES)

    def words_per_token(self) -> float:
        return 0.0

    def filler(self, seed: int, key: str, n: int) -> Content:
        return Content(self.exact.filler(seed, key, n), float(max(0, n)))

    async def fit(self, text: str, n: int, seed: int, key: str) -> Content:
        cache_key = (text, n, seed, key)
        fitted = self._fits.get(cache_key)
        if fitted is None:
            fitted = await _off_loop(len(text), self.exact.fit, text, n, seed, key)
            self._fits.put(cache_key, fitted, len(fitted))
        return Content(fitted, float(max(0, n)))

    async def joined(self, head: str, body: Content) -> float:
        # Only the seam can tokenize differently from the parts: count the head with the
        # start of the body (cut at a space) instead of the whole, possibly 100K-token, text.
        if len(body.text) <= _SEAM_CHARS:
            return float(self.exact.count(f"{head}\n{body.text}"))
        cut = body.text[:_SEAM_CHARS]
        space = cut.rfind(" ")
        if space > 0:
            cut = cut[:space]
        return float(self.exact.count(f"{head}\n{cut}") - self.exact.count(cut)) + body.units

    async def measure(self, text: str, stable: bool = False) -> float:
        count = self._counts.get(text) if stable else None
        if count is None:
            count = await _off_loop(len(text), self.exact.count, text)
            if stable:
                self._counts.put(text, count, 1)
        return float(count)


def _make_sizer(settings: PromptSettings) -> _Sizer:
    if settings.mode == "tokenizer":
        return _TokenizerSizer(exact_tokens(settings.tokenizer_path))
    if settings.mode == "calibrated":
        return _CalibratedSizer(settings.tokens_per_word)
    return _Sizer()


class PromptBuilder:
    """Builds the message contents of every agent of one worker.

    One builder serves all agents of a worker (and outlives levels), so the ``calibrated``
    estimate is per worker and the ``tokenizer`` caches are shared. Not thread-safe: use it
    from the worker's event loop.
    """

    def __init__(self, settings: PromptSettings | None = None) -> None:
        self.settings = settings or PromptSettings()
        self.settings.validate()
        self._sizer = _make_sizer(self.settings)
        self._recorded = self.settings.history_text == "recorded"
        self._errors = _Errors()

    @property
    def mode(self) -> str:
        return self.settings.mode

    async def system(self, prefix: str, seed: int, key: str, phase: Phase) -> Content:
        """The system message of a phase: the dynamic ``prefix`` line, a newline, the preamble."""
        if phase.preamble_text:
            preamble = await self._sizer.fit(phase.preamble_text, phase.preamble_tokens, seed, key)
        else:
            preamble = self._sizer.filler(seed, key, phase.preamble_tokens)
        return Content(f"{prefix}\n{preamble.text}", await self._sizer.joined(prefix, preamble))

    async def user(self, seed: int, key: str, turn: Turn) -> Content:
        """A turn's new input: its real text where it has one, else filler."""
        if turn.input_text:
            return await self._sizer.fit(turn.input_text, turn.input_tokens, seed, key)
        return self._sizer.filler(seed, key, turn.input_tokens)

    async def prefilled_reply(self, seed: int, key: str, turn: Turn) -> Content:
        """The answer of a turn the agent never sent (it started later in the trajectory): the
        recorded text fitted to ``output_tokens`` where there is one, else filler of that size."""
        if turn.output_text:
            return await self._sizer.fit(turn.output_text, turn.output_tokens, seed, key)
        return self._sizer.filler(seed, key, turn.output_tokens)

    async def reply(self, turn: Turn, generated: str) -> Content:
        """What the history keeps of a successful turn's answer (``history_text``)."""
        if self._recorded and turn.output_text:
            return Content(turn.output_text, await self._sizer.measure(turn.output_text, stable=True))
        return Content(generated, await self._sizer.measure(generated))

    def expected_tokens(self, units: float) -> float:
        """Prompt tokens expected for contents of ``units`` (mode units) in all."""
        return self._sizer.tokens(units)

    def observe(self, exchange: Exchange, units: float, expected: float) -> None:
        """Compare a finished request's ``usage.prompt_tokens`` with what was expected, and
        (``calibrated``) learn from it. Requests without usage are skipped."""
        reported = exchange.usage_prompt
        if reported <= 0:
            return
        self._errors.add(reported - expected)
        self._sizer.learn(units, reported)

    def stats(self) -> PromptStats:
        e = self._errors
        return PromptStats(
            samples=e.samples,
            error_mean=e.total / e.samples if e.samples else 0.0,
            error_max=e.max_abs,
            words_per_token=self._sizer.words_per_token(),
        )

    def reset_stats(self) -> None:
        """Start a new error tally (each level); the calibration is kept."""
        self._errors = _Errors()
