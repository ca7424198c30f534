"""Just enough Dockerfile and .dockerignore reading for the infra tests."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "infra" / "docker").glob("Dockerfile*"))
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One instruction, continuation lines joined, with the line it starts on."""

    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    """One FROM ... [AS name] and its instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Its instructions of one keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]

    def exec_form(self, keyword: str) -> list[str] | None:
        """The JSON (exec form) arguments of its last `keyword` instruction."""
        found = self.all(keyword)
        if not found:
            return None
        value = json.loads(found[-1].args)
        assert isinstance(value, list), f"{keyword} is not in exec form"
        return [str(v) for v in value]

    def env(self) -> dict[str, str]:
        """ENV of this stage alone (`KEY=value` pairs; values unquoted)."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for token in shlex.split(ins.args):
                key, sep, value = token.partition("=")
                assert sep, f"line {ins.line}: use ENV KEY=value"
                out[key] = value
        return out


def instructions(text: str) -> list[Instruction]:
    """Parse a Dockerfile's text into instructions."""
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        joined = " ".join(b for b in buf if b)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    return out


def global_args(text: str) -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults (what FROM may use)."""
    out: dict[str, str] = {}
    for ins in instructions(text):
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            out[name.strip()] = default.strip()
    return out


def stages(text: str) -> list[Stage]:
    """The build stages, in order; a FROM's `${ARG}` is resolved to the ARG's default."""
    out: list[Stage] = []
    args = global_args(text)
    for ins in instructions(text):
        if ins.keyword == "ARG" and not out:
            continue
        if ins.keyword == "FROM":
            parts = [p for p in ins.args.split() if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], parts[0])
            out.append(Stage(base=base, name=name))
        else:
            assert out, f"line {ins.line}: {ins.keyword} before FROM"
            out[-1].instructions.append(ins)
    return out


def copy_sources(ins: Instruction) -> list[str]:
    """The build-context sources of a COPY (none for `COPY --from=...`)."""
    parts = json.loads(ins.args) if ins.args.startswith("[") else ins.args.split()
    flags = [p for p in parts if p.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    paths = [p for p in parts if not p.startswith("--")]
    return paths[:-1]


_COMMENT = re.compile(r"^\s*#")


def ignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    """The .dockerignore patterns, comments and blanks dropped."""
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not _COMMENT.match(line)
    ]


def _pattern_matches(pattern: str, rel: str) -> bool:
    pattern = pattern.strip("/")
    candidates = [pattern]
    if pattern.startswith("**/"):
        candidates.append(pattern[3:])
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes)


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `rel` (a repo-relative path) out of the context.

    Docker's rule: the last matching pattern wins, `!` re-includes; a pattern matching a
    directory excludes everything under it.
    """
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _pattern_matches(pattern.lstrip("!"), rel):
            result = not negate
    return result
