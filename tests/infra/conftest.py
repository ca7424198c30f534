"""Rendered Kubernetes manifests, shared by the infra tests (rendered once per session)."""

from __future__ import annotations

import pytest

from tests.infra.manifests import BASE, OVERLAY, Obj, render


@pytest.fixture(scope="session")
def base() -> list[Obj]:
    """`kubectl kustomize infra/k8s/base`."""
    return render(BASE)


@pytest.fixture(scope="session")
def overlay() -> list[Obj]:
    """`kubectl kustomize infra/k8s/overlays/full-gateway-runtime`."""
    return render(OVERLAY)
