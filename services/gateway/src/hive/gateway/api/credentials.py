"""/api/credentials: provider and channel credentials, write-only values."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post, put

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.gateway.api.docs import SESSION_PROBLEMS, problems
from hive.gateway.auth import current_operator, runtime_of
from hive.gateway.credentials import (
    CredentialCreate,
    CredentialInfo,
    CredentialUpdate,
    DuplicateCredential,
)
from hive.gateway.identifiers import check_id


def _check(name: str | None, value: str) -> None:
    if name is not None and not 1 <= len(name) <= 100:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, "name must be 1-100 characters")
    if not 1 <= len(value) <= 16_384:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, "value must be 1-16384 characters")


@get("/api/credentials", responses=problems(*SESSION_PROBLEMS), tags=["credentials"])
async def list_credentials(request: Request[Any, Any, Any]) -> list[CredentialInfo]:
    """Every stored credential (metadata and a hint; never the value)."""
    return await runtime_of(request).require().vault.list()


@post(
    "/api/credentials",
    status_code=201,
    responses=problems(*SESSION_PROBLEMS, 409),
    tags=["credentials"],
)
async def create_credential(
    request: Request[Any, Any, Any], data: CredentialCreate
) -> CredentialInfo:
    """Store a credential, encrypted at rest."""
    _check(data.name, data.value)
    try:
        return (
            await runtime_of(request)
            .require()
            .vault.create(data, current_operator(request).username)
        )
    except DuplicateCredential as exc:
        raise HiveHTTPError(409, ErrorCode.CONFLICT, f"{exc} exists; PUT to replace it") from exc


@put(
    "/api/credentials/{credential_id:str}",
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["credentials"],
)
async def replace_credential(
    request: Request[Any, Any, Any], credential_id: str, data: CredentialUpdate
) -> CredentialInfo:
    """Replace a credential's value."""
    _check(None, data.value)
    info = (
        await runtime_of(request)
        .require()
        .vault.update(check_id(credential_id, "credential"), data.value)
    )
    if info is None:
        raise HiveHTTPError(404, ErrorCode.NOT_FOUND, "no such credential")
    return info


@delete(
    "/api/credentials/{credential_id:str}",
    status_code=204,
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["credentials"],
)
async def delete_credential(request: Request[Any, Any, Any], credential_id: str) -> None:
    """Delete a credential."""
    if not await runtime_of(request).require().vault.delete(check_id(credential_id, "credential")):
        raise HiveHTTPError(404, ErrorCode.NOT_FOUND, "no such credential")
