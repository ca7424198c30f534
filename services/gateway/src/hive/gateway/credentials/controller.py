"""/api/credentials: provider and channel credentials, write-only values."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, delete, get, post, put
from litestar.di import Provide

from hive.gateway.credentials.vault import (
    CredentialCreate,
    CredentialInfo,
    CredentialUpdate,
    CredentialVault,
    DuplicateCredential,
)
from hive.gateway.errors import Conflict, Invalid, NotFound
from hive.gateway.operators.guards import current_operator
from hive.gateway.platform.identifiers import check_id
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems
from hive.gateway.runtime import Services


def _check(name: str | None, value: str) -> None:
    if name is not None and not 1 <= len(name) <= 100:
        raise Invalid("name must be 1-100 characters")
    if not 1 <= len(value) <= 16_384:
        raise Invalid("value must be 1-16384 characters")


@get("/api/credentials", responses=problems(*SESSION_PROBLEMS), tags=["credentials"])
async def list_credentials(vault: CredentialVault) -> list[CredentialInfo]:
    """Every stored credential (metadata and a hint; never the value)."""
    return await vault.list()


@post(
    "/api/credentials",
    status_code=201,
    responses=problems(*SESSION_PROBLEMS, 409),
    tags=["credentials"],
)
async def create_credential(
    request: Request[Any, Any, Any], data: CredentialCreate, vault: CredentialVault
) -> CredentialInfo:
    """Store a credential, encrypted at rest."""
    _check(data.name, data.value)
    try:
        return await vault.create(data, current_operator(request).username)
    except DuplicateCredential as exc:
        raise Conflict(f"{exc} exists; PUT to replace it") from exc


@put(
    "/api/credentials/{credential_id:str}",
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["credentials"],
)
async def replace_credential(
    vault: CredentialVault, credential_id: str, data: CredentialUpdate
) -> CredentialInfo:
    """Replace a credential's value."""
    _check(None, data.value)
    info = await vault.update(check_id(credential_id, "credential"), data.value)
    if info is None:
        raise NotFound("no such credential")
    return info


@delete(
    "/api/credentials/{credential_id:str}",
    status_code=204,
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["credentials"],
)
async def delete_credential(vault: CredentialVault, credential_id: str) -> None:
    """Delete a credential."""
    if not await vault.delete(check_id(credential_id, "credential")):
        raise NotFound("no such credential")


def _vault(services: Services) -> CredentialVault:
    return services.vault


def router() -> Router:
    """The credential routes (mounted behind the operator session)."""
    return Router(
        path="/",
        dependencies={"vault": Provide(_vault, sync_to_thread=False)},
        route_handlers=[list_credentials, create_credential, replace_credential, delete_credential],
    )
