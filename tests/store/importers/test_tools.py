"""Tool-call classification: table of commands, agent tools, and hostile text (never raises, never runs)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.services.trajectory_store.importers.tools import (
    MAX_INSPECTED_CHARS,
    classify_command,
    classify_tool,
    command_tool,
    tool_arguments,
)
from agentperf.trajectory import TOOL_CLASSES, ToolCall

COMMANDS = [
    # read
    ("cat django/http/response.py", "cat", "read"),
    ("sed -n '278,350p' django/http/response.py", "sed", "read"),
    ("head -n 20 setup.py | tail -5", "head", "read"),
    ("open src/marshmallow/fields.py 1474", "open", "read"),
    ("goto 120", "goto", "read"),
    ("str_replace_editor view /testbed/a.py", "str_replace_editor", "read"),
    ("git diff --cached", "git", "read"),
    # search
    ("ls -la", "ls", "search"),
    ('find django -name "response.py"', "find", "search"),
    ("grep -rn 'def make_bytes' django | head -20", "grep", "search"),
    ("cd /testbed && rg TimeDelta src", "rg", "search"),
    ("find_file fields.py src", "find_file", "search"),
    ('search_dir "pixel_array"', "search_dir", "search"),
    ("for f in *.py; do grep -l x $f; done", "grep", "search"),
    ("xargs -I {} grep x {}", "grep", "search"),
    # edit
    ("sed -i 's/a/b/' f.py", "sed", "edit"),
    ("sed -i.bak -e 's/a/b/' f.py", "sed", "edit"),
    ("perl -pi -e 's/a/b/' f.py", "perl", "edit"),
    ("cat <<'EOF' > reproduce.py\nimport os; os.system('rm -rf /') | x\nEOF", "cat", "edit"),
    ("cat > f.py <<EOF\npytest\nEOF\n", "cat", "edit"),
    ("echo 'x = 1' >> settings.py", "echo", "edit"),
    ("git apply fix.patch", "git", "edit"),
    ("patch -p1 < fix.diff", "patch", "edit"),
    ("find . -name '*.py' | xargs sed -i 's/a/b/'", "sed", "edit"),
    ("edit 287:295\n    x = [a | b]; y && z\nend_of_edit", "edit", "edit"),
    ("create reproduce_bug.py", "create", "edit"),
    ("insert 'import numpy'", "insert", "edit"),
    ("str_replace_editor str_replace /a.py --old_str x --new_str y", "str_replace_editor", "edit"),
    # test
    ("pytest -x tests/test_fields.py", "pytest", "test"),
    ("cd /testbed && python -m pytest tests -q 2>&1 | tail -20", "pytest", "test"),
    ("python3 tests/runtests.py responses", "python3", "test"),
    ("python3 test_memoryview_variants.py", "python3", "test"),
    ("timeout 60 python -W ignore -m unittest discover", "unittest", "test"),
    ("tox -e py39", "tox", "test"),
    ("make -C build test", "make", "test"),
    ("npm run test:unit", "npm", "test"),
    ("cargo test --release", "cargo", "test"),
    ("go test ./...", "go", "test"),
    ("FOO=1 ./run_tests.sh -v", "run_tests.sh", "test"),
    ("bash -c 'cd x && pytest'", "pytest", "test"),
    # shell
    ("python3 reproduce_issue.py", "python3", "shell"),
    ('python3 -c "for x in y: print(x); import os | 1"', "python3", "shell"),
    ("make", "make", "shell"),
    ("rm reproduce.py", "rm", "shell"),
    ("echo hi > /dev/null 2>&1", "echo", "shell"),
    ("cd /workspace", "cd", "shell"),
    ("cd /w && ./ponyc test.pony -o . && ./test", "ponyc", "shell"),
    # other
    ("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached", "submit", "other"),
    ("submit", "submit", "other"),
    ("", "none", "other"),
    ("   \n ", "none", "other"),
    ("# just a comment", "none", "other"),
    ("'", "none", "other"),
]


@pytest.mark.parametrize(("command", "name", "tool_class"), COMMANDS)
def test_commands_are_classified(command: str, name: str, tool_class: str) -> None:
    assert classify_command(command) == (name, tool_class)


def test_command_tool_carries_the_duration() -> None:
    assert command_tool("ls", 0.25) == ToolCall("ls", "search", 0.25)


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("bash", {"command": "grep -n x f"}, ("grep", "search")),
        ("execute_bash", {"command": "python -m pytest"}, ("pytest", "test")),
        ("bash", {}, ("bash", "shell")),
        ("str_replace_editor", {"command": "view", "path": "/a"}, ("str_replace_editor", "read")),
        ("str_replace_editor", {"command": "create", "path": "/a"}, ("str_replace_editor", "edit")),
        ("find_file", {"file_name": "x.py"}, ("find_file", "search")),
        ("submit", {}, ("submit", "other")),
        ("think", None, ("think", "other")),
        ("run_ipython", {"code": "print(1)"}, ("run_ipython", "shell")),
        ("some_new_tool", {}, ("some_new_tool", "shell")),
        ("", {}, ("none", "other")),
    ],
)
def test_function_calling_tools_are_classified(
    name: str, arguments: dict[str, object] | None, expected: tuple[str, str]
) -> None:
    assert classify_tool(name, arguments) == expected


def test_tool_arguments_decodes_json_objects_only() -> None:
    assert tool_arguments('{"command": "ls"}') == {"command": "ls"}
    assert tool_arguments({"command": "ls"}) == {"command": "ls"}
    assert tool_arguments("[1, 2]") == {}
    assert tool_arguments("{not json") == {}
    assert tool_arguments("[" * 100_000) == {}
    assert tool_arguments(7) == {}


def test_long_commands_are_judged_by_their_start() -> None:
    assert classify_command("grep x f " + "a" * (10 * MAX_INSPECTED_CHARS)) == ("grep", "search")
    assert classify_command("x" * (MAX_INSPECTED_CHARS + 5) + " && pytest") == ("x" * 64, "shell")


@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet=st.sampled_from(list("ab -|&;<>()'\"\\`$#\n{}=/.*ie")), max_size=200))
def test_any_text_gets_a_class_without_raising(text: str) -> None:
    name, tool_class = classify_command(text)
    assert tool_class in TOOL_CLASSES
    assert 0 < len(name) <= 64


@settings(max_examples=100, deadline=2000)
@given(st.text(max_size=300))
def test_any_unicode_text_gets_a_class(text: str) -> None:
    assert classify_command(text)[1] in TOOL_CLASSES
