"""The README's commands are real: every `vistamatch ...` line names existing sub-commands and options."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from vistamatch.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text("utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("vistamatch ")]


def sub_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def test_readme_lists_commands():
    assert len(readme_commands()) >= 6


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command, capsys):
    words = shlex.split(command)[1:]
    parser = build_parser()
    path = []
    while words and (child := sub_parser(parser, words[0])) is not None:
        parser = child
        path.append(words.pop(0))
    assert path, f"no sub-command in {command!r}"
    known = {opt for action in parser._actions for opt in action.option_strings}
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in known, f"{word} is not an option of vistamatch {' '.join(path)}"
    # The whole line parses (no file is touched: parsing only).
    build_parser().parse_args(shlex.split(command)[1:])
