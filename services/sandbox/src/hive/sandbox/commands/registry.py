"""Package installs only from allowlisted registries (HIVE_SANDBOX_REGISTRY_ALLOWLIST).

Covers pip (`pip`, `python -m pip`), uv (`uv pip`, `uv add/sync/lock/run`,
`uv tool`, `uvx`) and npm-style clients (`npm`, `npx`, `pnpm`, `yarn`):
index / registry / find-links flags, VCS and URL requirement specs, the
requirement files named with `-r`/`-c`, and the project files those tools read
on their own (pyproject.toml `[tool.uv]`, uv.lock, .npmrc, package-lock.json).

An allowlist entry is a host (`pypi.org`), a wildcard host (`*.example.com`)
or a URL prefix (`https://mirror.example.com/simple`). Local paths and
`file:` URLs are not networked and always pass. The pod's egress policy is
the boundary; this catches the request before anything is fetched and says why.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from hive.contracts.errors import ErrorCode
from hive.sandbox.commands.errors import PolicyViolation

_PIP_VALUE_FLAGS: Final = {
    "-i": "index",
    "--index-url": "index",
    "--extra-index-url": "index",
    "--index": "index",
    "--default-index": "index",
    "-f": "find-links",
    "--find-links": "find-links",
    "--trusted-host": "host",
    "--allow-insecure-host": "host",
    "--from": "spec",
    "--with": "spec",
    "--with-editable": "spec",
}
_REQUIREMENT_FLAGS: Final = frozenset({"-r", "--requirement", "-c", "--constraint", "--constraints",
                                       "--with-requirements", "--overrides", "--build-constraints"})  # fmt: skip
_NPM_VALUE_FLAGS: Final = {"--registry": "registry"}
_NPM_CONFIG_FLAGS: Final = frozenset({"--userconfig", "--globalconfig"})
_VCS_PREFIX: Final = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_SCP_LIKE: Final = re.compile(r"^[\w.-]+@([\w.-]+):")
_NPM_HOSTED: Final = re.compile(r"^(github|gitlab|bitbucket|gist):", re.IGNORECASE)
_GITHUB_SHORTHAND: Final = re.compile(r"^[\w.-]+/[\w.-]+(#.*)?$")
_URL_IN_SPEC: Final = re.compile(r"(?:git|hg|svn|bzr)\+\S+|[A-Za-z][A-Za-z0-9+.-]*://\S+")
_HOSTED_HOSTS: Final = {
    "gitlab": "gitlab.com",
    "bitbucket": "bitbucket.org",
    "gist": "gist.github.com",
}
_LOCKFILE_URL: Final = re.compile(
    rb"""(?:registry|url|git|resolved)"?\s*[:=]\s*"([a-z+]+://[^"]+)\""""
)
_MAX_SCAN_BYTES: Final = 16 * 1024 * 1024
_PIP_INSTALLING: Final = frozenset({"install", "download", "wheel", "sync", "compile", "index"})
_UV_PROJECT: Final = frozenset({"add", "sync", "lock", "run", "export", "tree"})
_NPM_INSTALLING: Final = frozenset(
    {"install", "i", "in", "ins", "inst", "insta", "instal", "isnt", "isntall", "add", "ci",
     "clean-install", "install-clean", "install-test", "it", "cit", "update", "up", "upgrade",
     "exec", "x", "dlx", "create", "init", "rebuild", "link"}
)  # fmt: skip


class RegistryPolicy:
    """Checks package-manager invocations against the registry allowlist."""

    def __init__(self, allowlist: Iterable[str]) -> None:
        self.hosts: set[str] = set()
        self.wildcards: list[str] = []
        self.prefixes: list[str] = []
        for entry in (e.strip() for e in allowlist):
            if not entry:
                continue
            if "://" in entry:
                self.prefixes.append(entry.rstrip("/"))
            elif entry.startswith("*."):
                self.wildcards.append(entry[1:].lower())
            else:
                self.hosts.add(entry.lower())

    # -- matching -------------------------------------------------------------------------

    def host_allowed(self, host: str | None) -> bool:
        """An allowlisted host (exact or by wildcard)."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(w) for w in self.wildcards)

    def location_allowed(self, value: str) -> bool:
        """A local path, a file: URL, or a URL whose host or prefix is allowlisted."""
        value = value.strip()
        vcs = _VCS_PREFIX.match(value)
        if vcs:
            value = value[vcs.end() :]
        if scp := _SCP_LIKE.match(value):
            return self.host_allowed(scp.group(1))
        if "://" not in value:
            return vcs is None  # a bare VCS spec without a URL is malformed; refuse it
        if value.lower().startswith("file://"):
            return True
        if any(value.rstrip("/").startswith(p) for p in self.prefixes):
            return True
        try:
            host = urlsplit(value).hostname
        except ValueError:
            return False
        return self.host_allowed(host)

    def _refuse(self, what: str, value: str) -> PolicyViolation:
        shown = re.sub(r"//[^/@]*@", "//***@", value)  # never echo URL credentials
        return PolicyViolation(
            ErrorCode.REGISTRY_NOT_ALLOWLISTED,
            f"{what} {shown!r} is not an allowlisted registry (HIVE_SANDBOX_REGISTRY_ALLOWLIST)",
        )

    # -- entry point -------------------------------------------------------------------------

    def check(self, argv: Sequence[str], cwd: Path) -> None:
        """Raise PolicyViolation(registry_not_allowlisted) for a non-allowlisted source."""
        name = os.path.basename(argv[0])
        short = re.sub(r"[-.]?\d+(\.\d+)*$", "", name)
        args = list(argv[1:])
        if short == "pip":
            self._check_pip(args, cwd, installing=bool(set(args) & _PIP_INSTALLING))
        elif short == "python" and args[:2] == ["-m", "pip"]:
            self._check_pip(args[2:], cwd, installing=bool(set(args) & _PIP_INSTALLING))
        elif short == "python" and args[:2] == ["-m", "uv"]:
            self._check_uv(args[2:], cwd)
        elif short == "uv":
            self._check_uv(args, cwd)
        elif short == "uvx":
            self._check_pip(args, cwd, installing=True, first_only=True)
        elif short in ("npm", "npx", "pnpm", "yarn", "pnpx", "bun", "bunx"):
            self._check_npm(short, args, cwd)

    # -- pip / uv -----------------------------------------------------------------------------

    def _check_pip(
        self, args: list[str], cwd: Path, *, installing: bool, first_only: bool = False
    ) -> None:
        specs: list[str] = []
        for flag, value in _flag_values(args, _PIP_VALUE_FLAGS, _REQUIREMENT_FLAGS, specs):
            if flag in _REQUIREMENT_FLAGS:
                self._check_requirements_file(cwd / value, depth=0)
            else:
                self._check_flag(_PIP_VALUE_FLAGS.get(flag, flag), value)
        if installing:
            for spec in specs[:1] if first_only else specs:
                self._check_spec(spec)

    def _check_uv(self, args: list[str], cwd: Path) -> None:
        if args[:1] == ["pip"]:
            self._check_pip(args[1:], cwd, installing=bool(set(args[1:2]) & _PIP_INSTALLING))
            return
        sub = args[:1]
        if sub == ["tool"]:
            self._check_pip(args[2:], cwd, installing=args[1:2] in (["install"], ["run"]),
                            first_only=True)  # fmt: skip
            return
        specs: list[str] = []
        for flag, value in _flag_values(args[1:], _PIP_VALUE_FLAGS, _REQUIREMENT_FLAGS, specs):
            if flag in _REQUIREMENT_FLAGS:
                self._check_requirements_file(cwd / value, depth=0)
            else:
                self._check_flag(_PIP_VALUE_FLAGS.get(flag, flag), value)
        if sub == ["add"]:
            for spec in specs:
                self._check_spec(spec)
        if sub and sub[0] in _UV_PROJECT:
            self._check_uv_project(cwd)

    def _check_flag(self, kind: str, value: str) -> None:
        if kind == "spec":
            self._check_spec(value)
            return
        if kind == "index" and "=" in value and "://" in value.split("=", 1)[1]:
            value = value.split("=", 1)[1]  # uv's `--index name=url`
        if kind == "host":
            if not self.host_allowed(value.split(":")[0]):
                raise self._refuse("trusted host", value)
            return
        if kind in ("find-links",) and "://" not in value:
            return  # a local directory of wheels
        if not self.location_allowed(value) or ("://" not in value and kind != "find-links"):
            raise self._refuse(kind, value)

    def _check_spec(self, spec: str) -> None:
        spec = spec.strip()
        if not spec or spec.startswith(("-", "#")):
            return
        found = _URL_IN_SPEC.search(spec) or _SCP_LIKE.match(spec)
        if found is None:
            return
        url = found.group(0) if found.re is _URL_IN_SPEC else spec
        if not self.location_allowed(url.rstrip(";,")):
            raise self._refuse("requirement", spec)

    def _check_requirements_file(self, path: Path, *, depth: int) -> None:
        text = _read_small(path)
        if text is None or depth > 5:
            return
        for raw in text.splitlines():
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            words = line.split()
            specs: list[str] = []
            for flag, value in _flag_values(words, _PIP_VALUE_FLAGS, _REQUIREMENT_FLAGS, specs):
                if flag in _REQUIREMENT_FLAGS:
                    self._check_requirements_file(path.parent / value, depth=depth + 1)
                else:
                    self._check_flag(_PIP_VALUE_FLAGS.get(flag, flag), value)
            if not line.startswith("-"):
                self._check_spec(line)

    def _check_uv_project(self, cwd: Path) -> None:
        for directory in (cwd, *cwd.parents):
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                self._check_pyproject(pyproject)
                self._check_lockfile(directory / "uv.lock", "uv.lock")
                return

    def _check_pyproject(self, path: Path) -> None:
        text = _read_small(path)
        if text is None:
            return
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return
        uv = doc.get("tool", {}).get("uv", {})
        for key in ("index-url", "extra-index-url", "find-links"):
            for value in _as_list(uv.get(key)):
                self._check_flag("find-links" if key == "find-links" else "index", str(value))
        for index in _as_list(uv.get("index")):
            if isinstance(index, dict) and "url" in index:
                self._check_flag("index", str(index["url"]))
        for source in (uv.get("sources") or {}).values():
            for s in _as_list(source):
                if isinstance(s, dict):
                    for key in ("git", "url"):
                        if key in s and not self.location_allowed(str(s[key])):
                            raise self._refuse("pyproject source", str(s[key]))

    def _check_lockfile(self, path: Path, what: str) -> None:
        try:
            if not path.is_file() or path.stat().st_size > _MAX_SCAN_BYTES:
                return
            data = path.read_bytes()
        except OSError:
            return
        for m in _LOCKFILE_URL.finditer(data):
            url = m.group(1).decode("utf-8", "replace")
            if not self.location_allowed(url):
                raise self._refuse(what, url)

    # -- npm-style ------------------------------------------------------------------------------

    def _check_npm(self, tool: str, args: list[str], cwd: Path) -> None:
        specs: list[str] = []
        for a in args:
            if a.split("=", 1)[0] in _NPM_CONFIG_FLAGS:
                raise self._refuse("npm config file", a)
            if a.startswith("--@") and ":registry" in a:
                self._check_flag("registry", a.split("=", 1)[1] if "=" in a else "")
        for flag, value in _flag_values(args, _NPM_VALUE_FLAGS, frozenset(), specs):
            self._check_flag(_NPM_VALUE_FLAGS.get(flag, flag), value)
        sub = args[:1]
        installing = tool in ("npx", "pnpx", "bunx") or bool(sub and sub[0] in _NPM_INSTALLING)
        if not installing:
            return
        for spec in specs[1:] if tool not in ("npx", "pnpx", "bunx") else specs[:1]:
            self._check_npm_spec(spec)
        for rc in (cwd / ".npmrc", cwd / ".yarnrc", cwd / ".yarnrc.yml"):
            self._check_npmrc(rc)
        self._check_lockfile(cwd / "package-lock.json", "package-lock.json")
        self._check_lockfile(cwd / "npm-shrinkwrap.json", "npm-shrinkwrap.json")

    def _check_npm_spec(self, spec: str) -> None:
        if spec.startswith(("./", "../", "/", "~", "file:", "link:", "workspace:")):
            return
        hosted = _NPM_HOSTED.match(spec)
        if hosted or (not spec.startswith("@") and _GITHUB_SHORTHAND.match(spec)):
            host = _HOSTED_HOSTS.get(hosted.group(1).lower() if hosted else "", "github.com")
            if not self.host_allowed(host):
                raise self._refuse("package", spec)
            return
        self._check_spec(spec)

    def _check_npmrc(self, path: Path) -> None:
        text = _read_small(path)
        if text is None:
            return
        for line in text.splitlines():
            key, _, value = line.partition("=") if "=" in line else line.partition(":")
            key = key.strip().lower()
            if key.endswith("registry") or key.endswith("registryserver"):
                value = value.strip().strip("\"'")
                if value and not self.location_allowed(value):
                    raise self._refuse(path.name, value)


def _flag_values(
    args: Sequence[str],
    value_flags: dict[str, str],
    requirement_flags: frozenset[str],
    positionals: list[str],
) -> Iterator[tuple[str, str]]:
    """(flag, value) for every value flag in `args`; other non-flag words go to positionals."""
    flags = set(value_flags) | set(requirement_flags)
    i = 0
    while i < len(args):
        a = args[i]
        if a in flags:
            if i + 1 < len(args):
                yield a, args[i + 1]
            i += 2
            continue
        if a.startswith("--") and "=" in a and a.split("=", 1)[0] in flags:
            flag, value = a.split("=", 1)
            yield flag, value
        elif len(a) > 2 and a[:2] in flags and not a.startswith("--"):
            yield a[:2], a[2:]  # -ihttps://... / -rreq.txt
        elif not a.startswith("-"):
            positionals.append(a)
        i += 1


def _read_small(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_SCAN_BYTES:
            return None
        return path.read_text("utf-8", "replace")
    except OSError:
        return None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
