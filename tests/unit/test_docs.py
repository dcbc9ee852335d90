"""What the docs name exists: every setting (and every other upper-case name), every
`bizra-node` command and flag, every `make` target and every file of the repository that
README.md and docs/*.md mention. A doc that names something the code does not have
sends a reader after nothing."""

from __future__ import annotations

import argparse
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from bizra_node.cli import build_parser
from bizra_node.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

NAME = re.compile(r"(?<![A-Za-z0-9_./-])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![A-Za-z0-9_(])")
"""An upper-case name with an underscore: a setting, an error code, a constant."""
SPAN = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"\bbizra-node ([a-z][a-z-]*)((?: [^`|;]*)?)")
MAKE = re.compile(r"\bmake ([a-z][a-z-]*)")
GENERATED = (".devnet/", ".cluster/", ".data/", ".clients/", ".tools/", ".venv/",
             "bench/results/", ".env", "state.json", "logs/")
"""Folders and files made by setup or at run time, not kept in the repository (state.json
and logs/ are the local cluster's, under .cluster/)."""


def doc_text() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in DOCS}


@cache
def code_text() -> str:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    return "\n".join(p.read_text() for p in files)


@cache
def tracked() -> frozenset[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    files = set(out.split())
    files |= {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
              if ".git" not in p.parts and ".venv" not in p.parts and p.is_file()
              and "node_modules" not in p.parts}
    dirs = {"/".join(f.split("/")[:i]) + "/" for f in files for i in range(1, f.count("/") + 1)}
    return frozenset(files | dirs)


def defined_in_code(name: str) -> bool:
    """A constant (``NAME =``) or a string (an environment variable, an error code)."""
    return re.search(rf'(?<![A-Za-z0-9_])(?:{name}\s*[:=]|"{name}")', code_text()) is not None


OUTSIDE_NAMES = frozenset({"SO_REUSEPORT", "PR_SET_PDEATHSIG", "TCP_USER_TIMEOUT",
                           "MIN_SYNC_COMMITTEE_PARTICIPANTS"})
"""Names of the kernel's socket and process options and of the consensus specs, which a
doc may name as they are spelt there."""


def test_every_upper_case_name_is_a_setting_or_in_the_code() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    unknown = sorted({f"{doc}: {name}" for doc, text in doc_text().items()
                      for name in NAME.findall(text)
                      if name not in settings | OUTSIDE_NAMES and not defined_in_code(name)})
    assert unknown == []


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def command_problems(mention: str) -> list[str]:
    """What in ``bizra-node <mention>`` the CLI lacks (a command, a subcommand, a flag)."""
    words = re.sub(r"\[[^\]]*\]", " ", mention).split()  # optional parts: flags only
    commands = _subparsers(build_parser())
    if words[0] not in commands:
        return [f"no command {words[0]!r}"]
    parser = commands[words[0]]
    if words[0] == "bench":
        from bizra_bench.runner import available

        rest = " ".join(words[1:]).replace("--out DIR", " ").split()  # bench's own flag
        scenario = next((w for w in rest if not w.startswith(("-", "<"))), None)
        if scenario is not None and scenario not in available() and scenario != "SCENARIO":
            return [f"no bench scenario {scenario!r}"]
        return []  # a scenario's flags are its own (`bench SCENARIO --help`)
    sub = _subparsers(parser)
    if sub and len(words) > 1 and not words[1].startswith(("-", "[", "<")):
        if words[1] not in sub:
            return [f"no subcommand {words[0]} {words[1]!r}"]
        parser = sub[words[1]]
    flags = _flags(parser)
    return [f"{words[0]}: no flag {flag}" for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", mention)
            if flag not in flags]


def test_the_command_checker_finds_what_is_missing() -> None:
    assert command_problems("serve --port 1") == []
    assert command_problems("keys create NAME --scopes x") == []
    assert command_problems("serve --frobnicate") == ["serve: no flag --frobnicate"]
    assert command_problems("keys rotate") == ["no subcommand keys 'rotate'"]
    assert command_problems("teleport") == ["no command 'teleport'"]


def test_every_command_and_flag_exists() -> None:
    problems = []
    for doc, text in doc_text().items():
        for span in SPAN.findall(text):
            for match in COMMAND.finditer(span):
                mention = (match.group(1) + match.group(2)).strip()
                problems += [f"{doc}: `{span}`: {p}" for p in command_problems(mention)]
    assert problems == []


def test_every_make_target_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    missing = sorted({f"{doc}: make {t}" for doc, text in doc_text().items()
                      for span in SPAN.findall(text) for t in MAKE.findall(span)
                      if t not in targets})
    assert missing == []


PATH = re.compile(r"^\.?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.*{}<>-]*)+$|^[A-Za-z0-9_-]+\."
                  r"(?:py|md|yml|yaml|json|toml|ini|txt|mjs|sh)$")


def _exists(path: str) -> bool:
    path = path.removeprefix("./")
    if "*" in path or "<" in path or "{" in path:
        pattern = re.escape(path).replace(r"\*", "[^/]*")
        pattern = re.sub(r"\\<[^>]*\\>|\\\{[^}]*\\\}", "[^/]+", pattern)
        return any(re.fullmatch(pattern, f) for f in tracked())
    if "/" not in path.rstrip("/"):  # a file named alone: wherever it is
        return any(f.rstrip("/").rsplit("/", 1)[-1] == path.rstrip("/") for f in tracked())
    bases = ("", "src/bizra_node/", "src/bizra_node/validation/", "bench/",
             "bench/bizra_bench/", "docs/", "deploy/", "deploy/compose/")
    module, _, attribute = path.rpartition(".")
    candidates = [path]
    if attribute.isidentifier() and "/" in module:  # chain/methods.retryable: a name in it
        candidates.append(f"{module}.py")
    return any(base + c in tracked() or base + c + "/" in tracked()
               for base in bases for c in candidates)


def repository_paths(text: str) -> set[str]:
    """Paths a doc names: in backticks, or as a relative link."""
    found = set()
    for span in SPAN.findall(text):
        for word in span.split():
            word = word.strip("(),;:")
            if PATH.match(word) and not word.startswith(("http", "/", "ws:", "..")) and \
                    "://" not in word and not NAME.match(word.split("/")[0]) and \
                    not re.fullmatch(r"[A-Z]+(?:/[A-Z]+)+", word):  # DATA_DIR/..., GET/POST
                found.add(word)
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if "://" not in target:
            found.add(target)
    prose = re.sub(r"https?://\S+", " ", text)
    found |= set(re.findall(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.(?:md|py|ya?ml|toml|ini|mjs))\b",
                            prose))
    return found


def test_the_path_checker_finds_what_is_missing() -> None:
    assert _exists("src/bizra_node/tuning.py") and _exists("validation/prover.py")
    assert _exists("deploy/grafana/bizra-node.json") and _exists("chain/pool.py")
    assert not _exists("DESIGN.md") and not _exists("docs/nothing.md")
    assert "DESIGN.md" in repository_paths("the trust model in DESIGN.md and `x/`")


NOT_PATHS = {"web3.py"}
"""Names that look like files and are not (web3.py: the Python library)."""


@pytest.mark.parametrize("doc", [p.relative_to(ROOT).as_posix() for p in DOCS])
def test_every_repository_path_exists(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = sorted(p for p in repository_paths(text) - NOT_PATHS
                     if not p.startswith(GENERATED) and not _exists(p)
                     and not _exists(str((Path(doc).parent / p).as_posix())))
    assert missing == []


def test_no_doc_or_comment_points_where_a_reader_cannot_follow() -> None:
    """The project's issue tracker and the performance plan the node was built against are
    not in the repository: a doc or a comment says what it means instead of "issue 15"
    or "the roadmap"."""
    files = [*DOCS, *(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py"),
             *(ROOT / "tests").rglob("*.py"), ROOT / "Makefile",
             *(ROOT / "deploy").rglob("*.y*ml")]
    cited = re.compile(r"\bissues? \d+\b|\broadmap\b|\bDESIGN\.md\b", re.I)
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in files if p != Path(__file__)
             for n, line in enumerate(p.read_text().splitlines(), 1) if cited.search(line)]
    assert found == []
