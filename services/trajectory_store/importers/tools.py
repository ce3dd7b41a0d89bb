"""Tool-call classification for imported trajectories: an action's text -> (name, tool class).

Pure string inspection. Nothing here ever runs, evaluates or expands a command: a shell
command line is split by a small quote-aware lexer into pipelines and simple commands, and
each simple command is judged by its program name and a few flags. The classes are
:data:`agentperf.trajectory.TOOL_CLASSES`:

- ``read``: show a file (cat, head, tail, less, ``sed -n``, SWE-agent ``open``/``goto``, editor ``view``)
- ``search``: find files or text (grep, rg, find, ls, tree, ``find_file``/``search_dir``/``search_file``)
- ``edit``: change files (``sed -i``, ``perl -i``, patch, ``git apply``/``checkout``, tee, touch,
  ``cat``/``echo``/``printf`` redirected into a file, SWE-agent ``edit``/``create``/``insert``,
  editor ``str_replace``/``create``/``insert``/``undo_edit``)
- ``test``: run tests (pytest, ``python -m pytest``/``unittest``, tox, nox, ``make test``/``check``,
  ``npm test``, ``cargo test``, ``go test``, ``./run_tests*``, ``runtests.py``, ``test_*.py`` scripts, ...)
- ``shell``: any other command
- ``other``: no command, or an agent control action (submit, finish, think, message)

A command line with several parts takes the strongest class among them, in the order
test > edit > shell > search > read (``cd x && grep y`` is a search, ``grep y f | head`` is a
search, ``python repro.py | tail`` is shell, ``cat <<EOF > f.py`` is an edit). ``cd``,
``export`` and similar state-only builtins do not count. The name is the program (or agent
command) of the part that decided the class, e.g. ``grep``, ``sed``, ``pytest``, ``find_file``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from agentperf.trajectory import ToolCall

# Long commands are judged by their start: heredoc bodies and scripts beyond this add nothing
# to the class, and the cap keeps hostile inputs cheap.
MAX_INSPECTED_CHARS = 20_000
_MAX_DEPTH = 3  # nested ``bash -c "..."`` levels inspected
_MAX_NAME_CHARS = 64

_RANK = {"read": 1, "search": 2, "shell": 3, "edit": 4, "test": 5}

SUBMIT_MARKERS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")

# Agent-interface commands (SWE-agent ACI, OpenHands tools) recognised as the first word.
_AGENT_COMMANDS: dict[str, str] = {
    "open": "read",
    "goto": "read",
    "scroll_up": "read",
    "scroll_down": "read",
    "view": "read",
    "read": "read",
    "read_file": "read",
    "view_file": "read",
    "filemap": "read",
    "find_file": "search",
    "search_dir": "search",
    "search_file": "search",
    "search": "search",
    "edit": "edit",
    "create": "edit",
    "insert": "edit",
    "append": "edit",
    "str_replace": "edit",
    "write": "edit",
    "write_file": "edit",
    "edit_file": "edit",
    "apply_patch": "edit",
    "undo_edit": "edit",
    "submit": "other",
    "finish": "other",
    "think": "other",
    "exit": "other",
    "exit_forfeit": "other",
    "message": "other",
    "recall": "other",
    "noop": "other",
}
# Editors with sub-commands: ``str_replace_editor view path`` reads, the rest edit.
_EDITORS = frozenset({"str_replace_editor", "str_replace_based_edit_tool", "edit_tool", "file_editor"})
# Function-calling tools that carry a shell command in their arguments.
SHELL_TOOLS = frozenset({"bash", "execute_bash", "run", "shell", "terminal", "cmd_run"})
_IPYTHON_TOOLS = frozenset({"run_ipython", "execute_ipython_cell", "ipython"})

_READ_PROGRAMS = frozenset(
    {"cat", "head", "tail", "less", "more", "nl", "bat", "tac", "wc", "od", "xxd", "hexdump", "diff", "cmp"}
)
_SEARCH_PROGRAMS = frozenset(
    {"grep", "egrep", "fgrep", "rg", "ag", "ack", "find", "fd", "locate", "ls", "tree", "which", "whereis"}
)
_EDIT_PROGRAMS = frozenset({"patch", "tee", "touch", "truncate"})
_TEST_PROGRAMS = frozenset(
    {"pytest", "py.test", "tox", "nox", "ctest", "jest", "mocha", "vitest", "phpunit", "rspec", "nosetests"}
)
_TEST_PYTHON_MODULES = frozenset({"pytest", "unittest", "tox", "nox", "nose", "nose2"})
_PYTHON_VALUE_OPTIONS = frozenset({"-W", "-X", "-Q"})
_TEST_SUBCOMMAND_TOOLS = frozenset(
    {"cargo", "go", "dotnet", "bazel", "mvn", "gradle", "gradlew", "mix", "swift"}
)
_JS_RUNNERS = frozenset({"npm", "yarn", "pnpm", "bun"})
_GIT_SEARCH = frozenset({"grep", "ls-files"})
_GIT_READ = frozenset({"diff", "show", "log", "status", "blame"})
_GIT_EDIT = frozenset(
    {
        "apply",
        "am",
        "checkout",
        "restore",
        "stash",
        "reset",
        "revert",
        "cherry-pick",
        "merge",
        "rebase",
        "rm",
        "mv",
    }
)
# Programs that only change shell state: they never decide the class.
_NEUTRAL = frozenset({"cd", "pushd", "popd", "export", "set", "unset", "true", ":", "source", ".", "alias"})
# Shell keywords skipped in command position; ``for``/``case`` headers have no command at all.
_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "esac"}
)
_HEADERS = frozenset({"for", "select", "case", "function"})
# Wrappers whose argument is the real command (options skipped).
_WRAPPERS = frozenset({"sudo", "nohup", "time", "nice", "stdbuf", "command", "exec", "builtin", "xvfb-run"})
_XARGS_VALUE_OPTIONS = frozenset({"-I", "-n", "-P", "-L", "-d", "-s", "-a", "-E", "-i"})
_WRITERS = frozenset({"cat", "echo", "printf"})
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_DURATION = re.compile(r"[0-9.]+[smhd]?")
_PYTHON = re.compile(r"python[0-9.]*")
_TEST_SCRIPT = re.compile(r"(test_[^/]*|[^/]*_test)\.py|run_?tests?(\.[a-z]+)?")


def command_tool(command: str, duration_s: float = 0.0) -> ToolCall:
    """Classify one command line: a shell command or an agent-interface command (``open f.py 10``)."""
    name, tool_class = classify_command(command)
    return ToolCall(name, tool_class, duration_s)


def classify_command(command: str) -> tuple[str, str]:
    """(name, class) of a command line; see the module docstring for the rules."""
    text = command[:MAX_INSPECTED_CHARS].strip()
    if not text:
        return "none", "other"
    if any(marker in text for marker in SUBMIT_MARKERS):
        return "submit", "other"
    first = text.split(None, 1)[0]
    agent = _agent_command(first, text)
    if agent is not None:
        return agent
    return _classify_shell(text, 0)


def classify_tool(name: str, arguments: Mapping[str, object] | None = None) -> tuple[str, str]:
    """(name, class) of a function-calling tool call, from its name and (decoded) arguments."""
    args = arguments or {}
    key = name.strip().lower()
    command = args.get("command")
    if key in SHELL_TOOLS:
        return classify_command(command) if isinstance(command, str) else (_short(key), "shell")
    if key in _IPYTHON_TOOLS:
        return _short(key), "shell"
    if key in _EDITORS:
        return _short(key), _editor_class(command if isinstance(command, str) else "")
    if key in _AGENT_COMMANDS:
        return _short(key), _AGENT_COMMANDS[key]
    return (_short(key) or "none"), ("other" if not key else "shell")


def tool_arguments(raw: object) -> dict[str, object]:
    """Decoded function-call arguments: a JSON object given as a string or a mapping; else empty."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and len(raw) <= MAX_INSPECTED_CHARS:
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _short(name: str) -> str:
    """A tool name fit to store: at most 64 characters, unpaired surrogates replaced."""
    return name[:_MAX_NAME_CHARS].encode("utf-8", "replace").decode("utf-8")


def _editor_class(subcommand: str) -> str:
    return "read" if subcommand.strip().lower() == "view" else "edit"


def _agent_command(first: str, text: str) -> tuple[str, str] | None:
    key = first.lower()
    if key in _EDITORS:
        words = text.split(None, 2)
        return _short(key), _editor_class(words[1] if len(words) > 1 else "")
    if key in _AGENT_COMMANDS:
        return _short(key), _AGENT_COMMANDS[key]
    return None


# --- shell lexing -------------------------------------------------------------------------


@dataclass
class _Simple:
    """One simple command: its words and the files its output is redirected into."""

    words: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)


@dataclass
class _Lexer:
    """A forgiving lexer for the subset of sh that decides a class; never raises."""

    text: str
    pos: int = 0
    commands: list[_Simple] = field(default_factory=list)
    current: _Simple = field(default_factory=_Simple)
    word: list[str] = field(default_factory=list)
    in_word: bool = False
    target_next: bool = False
    heredoc_next: bool = False
    heredocs: list[str] = field(default_factory=list)

    def run(self) -> list[_Simple]:
        while self.pos < len(self.text):
            self._step(self.text[self.pos])
        self._end_command()
        return self.commands

    def _step(self, ch: str) -> None:
        if ch in " \t\r":
            self._end_word()
            self.pos += 1
        elif ch == "\n":
            self._end_command()
            self.pos += 1
            self._skip_heredocs()
        elif ch == "#" and not self.in_word:
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end
        elif ch in "'\"":
            self._quoted(ch)
        elif ch == "\\":
            self._escaped()
        elif ch == "$" and self.text.startswith("$(", self.pos):
            self._substitution()
        elif ch == "`":
            self._backticks()
        elif ch in ";&|()":
            self._operator(ch)
        elif ch in "<>":
            self._redirect(ch)
        else:
            self._append(ch)
            self.pos += 1

    def _append(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    def _end_word(self) -> None:
        if not self.in_word:
            return
        value = "".join(self.word)
        self.word.clear()
        self.in_word = False
        if self.heredoc_next:
            self.heredoc_next = False
            self.heredocs.append(value)
        elif self.target_next:
            self.target_next = False
            self.current.writes.append(value)
        else:
            self.current.words.append(value)

    def _end_command(self) -> None:
        self._end_word()
        self.target_next = self.heredoc_next = False
        if self.current.words or self.current.writes:
            self.commands.append(self.current)
        self.current = _Simple()

    def _quoted(self, quote: str) -> None:
        self.in_word = True
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            if quote == '"' and self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            self.word.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1

    def _escaped(self) -> None:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if nxt != "\n":  # backslash-newline continues the line
            self._append(nxt)
        self.pos += 2

    def _substitution(self) -> None:
        """``$( ... )`` stays inside the current word, whatever it contains."""
        depth = 0
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            depth += (ch == "(") - (ch == ")")
            self.pos += 1
            if depth == 0 and ch == ")":
                break
        self._append(self.text[start : self.pos])

    def _backticks(self) -> None:
        end = self.text.find("`", self.pos + 1)
        end = len(self.text) if end < 0 else end + 1
        self._append(self.text[self.pos : end])
        self.pos = end

    def _operator(self, ch: str) -> None:
        if ch == "&" and self.text.startswith("&>", self.pos):
            self._redirect("&")
            return
        self._end_command()
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] in ";&|" and ch != "(":
            self.pos += 1

    def _redirect(self, ch: str) -> None:
        fd = "".join(self.word)
        if self.in_word and not fd.isdigit():
            self._end_word()
        else:
            self.word.clear()
            self.in_word = False
        if ch == "<":
            self._input_redirect()
            return
        self.pos += 1  # ``>`` or the ``&`` of ``&>``
        while self.pos < len(self.text) and self.text[self.pos] in ">|":
            self.pos += 1
        if self.text.startswith("&", self.pos):  # ``2>&1``: a descriptor, not a file
            self.pos += 1
            while self.pos < len(self.text) and (self.text[self.pos].isdigit() or self.text[self.pos] == "-"):
                self.pos += 1
            return
        self.target_next = True

    def _input_redirect(self) -> None:
        if self.text.startswith("<<<", self.pos):
            self.pos += 3
        elif self.text.startswith("<<", self.pos):
            self.pos += 2
            if self.text.startswith("-", self.pos):
                self.pos += 1
            self.heredoc_next = True
        else:
            self.pos += 1
            if self.text.startswith("(", self.pos):  # process substitution ``<(...)``
                self.pos -= 1
                self._substitution()
                self._end_word()

    def _skip_heredocs(self) -> None:
        """After the line that opened heredocs, skip their bodies (never inspected)."""
        while self.heredocs:
            delimiter = self.heredocs.pop(0).strip()
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line = self.text[self.pos : end]
                self.pos = end + 1
                if line.strip() == delimiter:
                    break


def _simple_commands(text: str) -> list[_Simple]:
    return _Lexer(text).run()


# --- judging simple commands ---------------------------------------------------------------


def _classify_shell(text: str, depth: int) -> tuple[str, str]:
    best: tuple[str, str] | None = None
    neutral_name = ""
    for simple in _simple_commands(text):
        judged = _judge(simple, depth)
        if judged is None:
            continue
        name, tool_class = judged
        if tool_class == "":
            neutral_name = neutral_name or name
            continue
        if best is None or _RANK[tool_class] > _RANK[best[1]]:
            best = (name, tool_class)
    if best is not None:
        return best
    return (neutral_name, "shell") if neutral_name else ("none", "other")


def _command_words(words: list[str]) -> Iterator[str]:
    """Words from the program on: assignments, keywords and wrappers (with their options) dropped."""
    i = 0
    while i < len(words):
        word = words[i]
        base = _basename(word)
        if _ASSIGNMENT.match(word) or word in _KEYWORDS:
            i += 1
        elif base in _WRAPPERS or base == "env":
            i += 1
            while i < len(words) and (words[i].startswith("-") or _ASSIGNMENT.match(words[i])):
                i += 1
        elif base == "timeout":
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
            if i < len(words) and _DURATION.fullmatch(words[i]):
                i += 1
        elif base == "xargs":
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in _XARGS_VALUE_OPTIONS else 1
        else:
            yield from words[i:]
            return


def _basename(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1]


def _judge(simple: _Simple, depth: int) -> tuple[str, str] | None:
    """(name, class) of one simple command; class "" for state-only builtins; None if empty."""
    words = list(_command_words(simple.words))
    writes_file = any(target not in _HARMLESS_TARGETS for target in simple.writes)
    if not words:
        return ("redirect", "edit") if writes_file else None
    program = _basename(words[0])
    if not program or program in _HEADERS:
        return None
    if program in _NEUTRAL:
        return _short(program), ""
    args = words[1:]
    if program in ("bash", "sh", "zsh", "dash") and "-c" in args and depth < _MAX_DEPTH:
        script_at = args.index("-c") + 1
        if script_at < len(args):
            return _classify_shell(args[script_at], depth + 1)
    name, tool_class = _program_class(program, args)
    if writes_file and (program in _WRITERS or tool_class == "read"):
        return name, "edit"
    return name, tool_class


def _program_class(program: str, args: list[str]) -> tuple[str, str]:
    name = _short(program) or "none"
    if _PYTHON.fullmatch(program):
        return _python_class(name, args)
    if program in _TEST_PROGRAMS or _TEST_SCRIPT.fullmatch(program):
        return name, "test"
    if program == "sed":
        return name, "edit" if any(_is_in_place(a) for a in args) else "read"
    if program in ("perl", "ruby"):
        return name, "edit" if any(_is_in_place(a) or a.startswith("-pi") for a in args) else "shell"
    if program in ("awk", "gawk"):
        return name, "read"
    if program == "git":
        return _git_class(args)
    if program in ("make", "gmake"):
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        return name, "test" if any("test" in t or t == "check" for t in targets) else "shell"
    if program in _JS_RUNNERS:
        return name, "test" if _first_positional(args, skip={"run"}).startswith("test") else "shell"
    if program in _TEST_SUBCOMMAND_TOOLS:
        return name, "test" if _first_positional(args) in ("test", "nextest", "verify") else "shell"
    if program in _READ_PROGRAMS:
        return name, "read"
    if program in _SEARCH_PROGRAMS:
        return name, "search"
    if program in _EDIT_PROGRAMS:
        return name, "edit" if program != "tee" or _first_positional(args) else "shell"
    if program in _AGENT_COMMANDS:
        return name, _AGENT_COMMANDS[program]
    return name, "shell"


def _python_class(name: str, args: list[str]) -> tuple[str, str]:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _PYTHON_VALUE_OPTIONS:
            i += 2
            continue
        if arg == "-m" and i + 1 < len(args):
            module = args[i + 1].split(".", 1)[0]
            return _short(module), "test" if module in _TEST_PYTHON_MODULES else "shell"
        if arg in ("-c", "-"):
            return name, "shell"
        if not arg.startswith("-"):
            script = _basename(arg)
            is_test = bool(_TEST_SCRIPT.fullmatch(script)) or (script == "setup.py" and "test" in args)
            return name, "test" if is_test else "shell"
        i += 1
    return name, "shell"


def _is_in_place(arg: str) -> bool:
    if arg.startswith("--in-place"):
        return True
    return arg.startswith("-") and not arg.startswith("--") and "i" in arg[1:].split("=", 1)[0][:3]


def _git_class(args: list[str]) -> tuple[str, str]:
    sub = _first_positional(args, value_options={"-C", "-c", "--git-dir", "--work-tree"})
    if sub in _GIT_SEARCH:
        return "git", "search"
    if sub in _GIT_READ:
        return "git", "read"
    if sub in _GIT_EDIT:
        return "git", "edit"
    return "git", "shell"


def _first_positional(
    args: list[str], *, skip: frozenset[str] | set[str] = frozenset(), value_options: set[str] | None = None
) -> str:
    """The first argument that is not an option (nor the value of one in ``value_options``)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if value_options and arg in value_options:
            i += 2
        elif arg.startswith("-") or arg in skip:
            i += 1
        else:
            return arg
    return ""
