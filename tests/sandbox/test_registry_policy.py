"""RegistryPolicy in-process: what the allowlist lets through (the refusals are tested over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive.sandbox.commands.errors import PolicyViolation
from hive.sandbox.commands.registry import RegistryPolicy
from hive.sandbox.settings import DEFAULT_REGISTRY_ALLOWLIST

POLICY = RegistryPolicy(
    [
        *DEFAULT_REGISTRY_ALLOWLIST.split(","),
        "*.mirror.example.org",
        "https://corp.example.com/pypi",
    ]
)


@pytest.mark.parametrize(
    "argv",
    [
        ["pip", "install", "requests==2.32.0", "attrs>=23"],
        ["pip", "install", "--index-url", "https://pypi.org/simple", "requests"],
        ["pip", "install", "-i", "https://eu.mirror.example.org/simple", "requests"],
        ["pip", "install", "--extra-index-url", "https://corp.example.com/pypi/simple", "x"],
        ["pip", "install", "--find-links", "./wheels", "x"],
        ["pip", "install", "-e", "."],
        ["pip", "install", "./dist/pkg-1.0-py3-none-any.whl"],
        ["pip", "install", "file:///tmp/pkg.whl"],
        ["pip", "list"],
        ["uv", "pip", "install", "requests"],
        ["uv", "add", "httpx"],
        ["uv", "run", "pytest", "-q"],
        ["npm", "install", "left-pad", "@types/node@20"],
        ["npm", "install", "--registry", "https://registry.npmjs.org/", "left-pad"],
        ["npm", "install", "./local-pkg"],
        ["npm", "test"],
        ["npx", "prettier", "--check", "."],
        ["git", "clone", "https://evil.example.com/repo.git"],  # not a package install
        ["python3", "-c", "print('https://evil.example.com')"],
    ],
)
def test_allowlisted_or_local_sources_pass(argv: list[str], tmp_path: Path) -> None:
    POLICY.check(argv, tmp_path)


def test_a_uv_lock_pointing_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "x"\nsource = { registry = "https://evil.example.com/simple" }\n'
    )
    with pytest.raises(PolicyViolation) as err:
        POLICY.check(["uv", "sync", "--frozen"], tmp_path)
    assert err.value.code == "registry_not_allowlisted"


def test_a_uv_lock_from_pypi_passes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "attrs"\nsource = { registry = "https://pypi.org/simple" }\n'
        'sdist = { url = "https://files.pythonhosted.org/packages/attrs-23.tar.gz" }\n'
    )
    POLICY.check(["uv", "sync", "--frozen"], tmp_path)


def test_a_package_lock_resolving_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "package-lock.json").write_text(
        '{"packages": {"node_modules/x": {"resolved": "https://evil.example.com/x.tgz"}}}'
    )
    with pytest.raises(PolicyViolation):
        POLICY.check(["npm", "ci"], tmp_path)


def test_host_matching_is_exact_not_a_suffix() -> None:
    assert POLICY.location_allowed("https://pypi.org/simple")
    assert not POLICY.location_allowed("https://pypi.org.evil.example.com/simple")
    assert not POLICY.location_allowed("https://evilpypi.org/simple")
    assert not POLICY.location_allowed("https://corp.example.com/other")
    assert POLICY.location_allowed("https://a.mirror.example.org/simple")
    assert not POLICY.location_allowed("https://mirror.example.org.evil.com/simple")
