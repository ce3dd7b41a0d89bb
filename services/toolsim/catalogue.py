"""The FIXED catalogue of CPU tasks that stand in for tool calls (model ``cpu``).

Every input a task touches is generated here from :data:`CORPUS_SEED`: source files, their
edited versions, data blobs and integer lists. A request only picks a task by name from
:data:`TASKS` (through its tool class, :data:`CLASS_TASKS`) and a work size; nothing from a
request or a trajectory is ever parsed, compiled, searched or executed. Generated source is
parsed and compiled to bytecode but never run.

Work is counted in units: one unit is one fixed operation on one corpus item (a file, a blob,
a list), cycling through the corpus, so a task's time grows linearly with ``work``. The
calibration (``calibrate.py``) measures seconds per unit of each task on a machine.
Bump :data:`CATALOGUE_VERSION` whenever a task or the corpus changes: calibrations of an older
version are refused.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import heapq
import itertools
import random
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

CATALOGUE_VERSION = 1
CORPUS_SEED = 20260614
TASKS = ("search", "parse", "compile", "edit", "test", "shell")
# A tool class only ever selects one of these names; "other" (and a request without a class)
# takes the generic shell-like task.
CLASS_TASKS = {
    "read": "parse",
    "search": "search",
    "edit": "edit",
    "test": "test",
    "shell": "shell",
    "other": "shell",
}

_FILES = 32
_BLOBS = 16
_LISTS = 16
_WORDS = (
    *("alpha", "beta", "gamma", "delta", "token", "cache", "prefix", "agent", "turn", "phase"),
    *("buffer", "request", "stream", "record", "window", "level", "tier", "judge", "power"),
    *("sample", "shard", "index", "batch", "limit", "queue", "slot"),
)
_SEARCH_PATTERNS = (
    r"\bdef\s+(\w+)\(",
    r"(?m)^\s*(?:from\s+\w+\s+)?import\s+\w+",
    r"TODO|FIXME|XXX",
    r"\b\w+_\d+\s*=\s*['\"]",
    r"\breturn\s+\w+\s*[-+*%]\s*\d+",
)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class Corpus:
    """The generated inputs of every task (built once per process)."""

    files: tuple[str, ...]
    edited: tuple[str, ...]
    blobs: tuple[bytes, ...]
    lists: tuple[tuple[int, ...], ...]
    list_crcs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What one run of a task did and how long it took in the process that ran it."""

    task: str
    units: int
    wall_s: float
    cpu_s: float
    digest: int


def _word(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)}_{rng.randrange(100)}"


def _function(rng: random.Random, index: int) -> list[str]:
    name, arg = _word(rng), _word(rng)
    lines = [f"def {name}_{index}({arg}, limit=10):", f'    """Compute {rng.choice(_WORDS)} values."""']
    lines.append(f"    total = {rng.randrange(1000)}")
    for k in range(rng.randint(3, 7)):
        var = _word(rng)
        lines.append(f"    for {var} in range(limit):")
        lines.append(f"        if {var} % {rng.randint(2, 9)} == {k % 2}:")
        lines.append(f"            total += {var} * {rng.randint(1, 99)}  # TODO tune {k}")
        lines.append("        else:")
        lines.append(f"            total -= len(str({arg})) + {rng.randint(0, 50)}")
    lines.append(f"    {_word(rng)} = '{rng.choice(_WORDS)}'")
    lines.append(f"    return total % {rng.randint(7, 997)}")
    return [*lines, ""]


def generate_module(rng: random.Random, index: int) -> str:
    """A syntactically valid Python module of about 4 KB (imports, a class, functions)."""
    lines = [f'"""Generated module {index}: never executed."""', "", "import math", "import os", ""]
    lines.append(f"CONSTANT_{index} = {rng.randrange(10_000)}")
    lines += ["", f"class Thing{index}:", "    def __init__(self, size):", "        self.size = size", ""]
    lines += ["    def area(self):", "        return math.pi * self.size ** 2", "", ""]
    for f in range(rng.randint(5, 7)):
        lines += _function(rng, f)
        lines.append("")
    return "\n".join(lines) + "\n"


def _edit(rng: random.Random, text: str) -> str:
    """A deterministic edit: renamed identifiers, inserted and deleted lines."""
    lines = text.splitlines(keepends=True)
    for _ in range(6):
        at = rng.randrange(len(lines))
        lines[at] = lines[at].replace("total", "acc", 1)
    for _ in range(4):
        at = rng.randrange(1, len(lines))
        indent = len(lines[at]) - len(lines[at].lstrip())
        lines.insert(at, " " * indent + f"# FIXME {rng.choice(_WORDS)}\n")
    for _ in range(3):
        del lines[rng.randrange(1, len(lines) - 1)]
    return "".join(lines)


def _blob(rng: random.Random, size: int) -> bytes:
    # Half text-like, half random: compresses like tool output does (neither trivial nor incompressible).
    words = " ".join(rng.choice(_WORDS) for _ in range(size // 12))
    return words.encode()[: size // 2] + rng.randbytes(size // 2)


def build_corpus(seed: int = CORPUS_SEED) -> Corpus:
    """Generate every task input from ``seed`` alone."""
    rng = random.Random(seed)
    files = tuple(generate_module(rng, i) for i in range(_FILES))
    edited = tuple(_edit(rng, text) for text in files)
    blobs = tuple(_blob(rng, 16_384) for _ in range(_BLOBS))
    lists = tuple(tuple(rng.randrange(1 << 30) for _ in range(2_000)) for _ in range(_LISTS))
    crcs = tuple(zlib.crc32(repr(sorted(values)).encode()) for values in lists)
    return Corpus(files, edited, blobs, lists, crcs)


@functools.cache
def corpus() -> Corpus:
    """The process-wide corpus (built on first use; the pool initializer builds it up front)."""
    return build_corpus()


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in _SEARCH_PATTERNS)


def _search(c: Corpus, i: int) -> int:
    text = c.files[i % len(c.files)]
    return sum(1 for pattern in _patterns() for _ in pattern.finditer(text))


def _parse(c: Corpus, i: int) -> int:
    tree = ast.parse(c.files[i % len(c.files)])
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.Name))


def _compile(c: Corpus, i: int) -> int:
    code = compile(c.files[i % len(c.files)], f"<catalogue-{i % len(c.files)}>", "exec", dont_inherit=True)
    return len(code.co_consts)


def apply_unified_diff(original: Sequence[str], diff: Sequence[str]) -> list[str]:
    """Apply a unified diff (as ``difflib.unified_diff`` writes it) to ``original`` lines.

    Lines keep their endings. Raises ValueError when a hunk's context or removed lines do not
    match ``original``, or the diff ends inside a hunk.
    """
    out: list[str] = []
    pos = 0
    lines = iter(diff)
    for line in lines:
        match = _HUNK.match(line)
        if match is None:
            continue  # the ---/+++ header
        old_start, old_len = int(match.group(1)), int(match.group(2) or 1)
        new_len = int(match.group(4) or 1)
        # An empty old range names the line *after which* the hunk goes, not its first line.
        hunk_at = old_start - 1 if old_len else old_start
        if hunk_at < pos:
            raise ValueError(f"hunk at line {old_start} overlaps the previous one")
        out.extend(original[pos:hunk_at])
        pos = _apply_hunk(original, hunk_at, lines, (old_len, new_len), out)
    out.extend(original[pos:])
    return out


def _apply_hunk(
    original: Sequence[str], pos: int, lines: Iterator[str], lengths: tuple[int, int], out: list[str]
) -> int:
    """Apply one hunk's body starting at ``original[pos]``; returns the position after it."""
    old_left, new_left = lengths
    while old_left > 0 or new_left > 0:
        line = next(lines, None)
        if line is None:
            raise ValueError("diff ends inside a hunk")
        tag, body = line[:1], line[1:]
        if tag == "+" and new_left > 0:
            out.append(body)
            new_left -= 1
            continue
        if tag not in " -" or old_left <= 0 or pos >= len(original) or original[pos] != body:
            raise ValueError(f"hunk does not apply at line {pos + 1}")
        if tag == " ":
            if new_left <= 0:
                raise ValueError(f"hunk at line {pos + 1} has more lines than its header says")
            out.append(body)
            new_left -= 1
        pos += 1
        old_left -= 1
    return pos


def _edit_task(c: Corpus, i: int) -> int:
    k = i % len(c.files)
    before = c.files[k].splitlines(keepends=True)
    after = c.edited[k].splitlines(keepends=True)
    diff = list(difflib.unified_diff(before, after, "a/module.py", "b/module.py", n=3))
    if apply_unified_diff(before, diff) != after:
        raise RuntimeError(f"catalogue edit task: patch of file {k} did not reproduce the edit")
    return len(diff)


def _test(c: Corpus, i: int) -> int:
    k = i % len(c.lists)
    values = c.lists[k]
    ordered = sorted(values)
    half = len(values) // 2
    merged = list(heapq.merge(sorted(values[:half]), sorted(values[half:])))
    failures = 0
    failures += ordered != merged
    failures += any(a > b for a, b in itertools.pairwise(ordered))
    failures += zlib.crc32(repr(merged).encode()) != c.list_crcs[k]
    failures += sum(values) % 997 != sum(ordered) % 997
    if failures:
        raise RuntimeError(f"catalogue test task: {failures} assertions failed on list {k}")
    return ordered[half] & 0xFFFF


def _shell(c: Corpus, i: int) -> int:
    blob = c.blobs[i % len(c.blobs)]
    packed = zlib.compress(blob, 6)
    if zlib.decompress(packed) != blob:
        raise RuntimeError("catalogue shell task: compression round trip failed")
    return hashlib.sha256(packed).digest()[0]


_UNITS: dict[str, Callable[[Corpus, int], int]] = {
    "search": _search,
    "parse": _parse,
    "compile": _compile,
    "edit": _edit_task,
    "test": _test,
    "shell": _shell,
}


def run_task(task: str, work: int) -> TaskResult:
    """Run ``work`` units of catalogue task ``task`` here; the function a pool worker runs."""
    unit = _UNITS.get(task)
    if unit is None:
        raise ValueError(f"unknown catalogue task {task!r}; catalogue: {', '.join(TASKS)}")
    if work < 0:
        raise ValueError(f"work must be >= 0, got {work}")
    c = corpus()
    wall, cpu = time.perf_counter(), time.process_time()
    digest = 0
    for i in range(work):
        digest = (digest * 31 + unit(c, i)) & 0xFFFFFFFF
    return TaskResult(task, work, time.perf_counter() - wall, time.process_time() - cpu, digest)


def warm() -> None:
    """Build the corpus and touch every task once, so a first call is not slower than the rest."""
    for task in TASKS:
        run_task(task, 1)
