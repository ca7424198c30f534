"""Provider and channel credentials, encrypted at rest.

Values are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
HIVE_CREDENTIAL_KEY. The row's id, kind and name are the associated data, so
a ciphertext copied into another row does not decrypt. Each row records the
key's fingerprint: after the key changes, old rows are reported as
unreadable instead of failing in obscure ways. The API only ever returns
metadata and a short hint; the clear value is read only inside the gateway
(the relay uses a stored `provider` credential when the provider's env var is
unset) and is registered with the log redactor the moment it is decrypted.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hive.contracts.logs import Redactor

CredentialKind = Literal["provider", "channel"]
_VERSION = b"\x01"


class CredentialInfo(msgspec.Struct, kw_only=True):
    """What the API shows of a stored credential (never the value)."""

    credential_id: str
    kind: CredentialKind
    name: str
    hint: str
    created_at: datetime
    updated_at: datetime


class CredentialCreate(msgspec.Struct, kw_only=True):
    """POST /api/credentials."""

    kind: CredentialKind
    name: str
    value: str


class CredentialUpdate(msgspec.Struct, kw_only=True):
    """PUT /api/credentials/{credential_id}."""

    value: str


class DuplicateCredential(Exception):
    """A credential of that kind and name exists (mapped to 409)."""


class CredentialUnreadable(Exception):
    """The stored value was sealed with another key, or was tampered with."""


def hint_of(value: str) -> str:
    """The last four characters of long values, nothing of short ones."""
    return "…" + value[-4:] if len(value) >= 16 else "…"


class CredentialVault:
    """Seal, store, list and (inside the gateway only) open credentials."""

    def __init__(self, key_material: str, pool: asyncpg.Pool, redactor: Redactor) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"openhive credentials", info=b"v1"
        ).derive(key_material.encode())
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"openhive credential key id\x00" + key).hexdigest()[:16]
        self.pool = pool
        self._redactor = redactor

    @staticmethod
    def _aad(credential_id: str, kind: str, name: str) -> bytes:
        return f"{credential_id}\x00{kind}\x00{name}".encode()

    def seal(self, credential_id: str, kind: str, name: str, value: str) -> bytes:
        """Version byte, nonce, ciphertext+tag."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), self._aad(credential_id, kind, name))
        return _VERSION + nonce + sealed

    def open(self, credential_id: str, kind: str, name: str, blob: bytes, key_id: str) -> str:
        """The clear value; CredentialUnreadable on a foreign key or tampering."""
        if key_id != self.key_id or blob[:1] != _VERSION:
            raise CredentialUnreadable(f"{kind}/{name} was sealed with another key")
        try:
            clear = self._aead.decrypt(blob[1:13], blob[13:], self._aad(credential_id, kind, name))
        except InvalidTag as exc:
            raise CredentialUnreadable(f"{kind}/{name} failed authentication") from exc
        value = clear.decode()
        self._redactor.add(value)
        return value

    async def create(self, body: CredentialCreate, created_by: str | None) -> CredentialInfo:
        """Store a new credential; DuplicateCredential when kind+name exists."""
        credential_id = "cred_" + secrets.token_hex(8)
        self._redactor.add(body.value)
        try:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "INSERT INTO credentials (credential_id, kind, name, ciphertext, key_id, hint, "
                    "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "RETURNING credential_id, kind, name, hint, created_at, updated_at",
                    credential_id,
                    body.kind,
                    body.name,
                    self.seal(credential_id, body.kind, body.name, body.value),
                    self.key_id,
                    hint_of(body.value),
                    created_by,
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateCredential(f"{body.kind}/{body.name}") from exc
        return _info(row)

    async def update(self, credential_id: str, value: str) -> CredentialInfo | None:
        """Replace a credential's value; None when it does not exist."""
        self._redactor.add(value)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT kind, name FROM credentials WHERE credential_id = $1 FOR UPDATE",
                credential_id,
            )
            if row is None:
                return None
            updated = await conn.fetchrow(
                "UPDATE credentials SET ciphertext = $2, key_id = $3, hint = $4, "
                "updated_at = now() WHERE credential_id = $1 "
                "RETURNING credential_id, kind, name, hint, created_at, updated_at",
                credential_id,
                self.seal(credential_id, row["kind"], row["name"], value),
                self.key_id,
                hint_of(value),
            )
        return _info(updated)

    async def list(self) -> list[CredentialInfo]:
        """Metadata of every credential."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT credential_id, kind, name, hint, created_at, updated_at FROM credentials "
                "ORDER BY kind, name"
            )
        return [_info(r) for r in rows]

    async def get(self, credential_id: str) -> CredentialInfo | None:
        """Metadata of one credential."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT credential_id, kind, name, hint, created_at, updated_at FROM credentials "
                "WHERE credential_id = $1",
                credential_id,
            )
        return None if row is None else _info(row)

    async def delete(self, credential_id: str) -> bool:
        """Delete one credential; False when it did not exist."""
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM credentials WHERE credential_id = $1", credential_id
            )
        return str(status).endswith(" 1")

    async def reveal(self, kind: CredentialKind, name: str) -> str | None:
        """The clear value of kind/name (gateway-internal use only), or None."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT credential_id, ciphertext, key_id FROM credentials "
                "WHERE kind = $1 AND name = $2",
                kind,
                name,
            )
        if row is None:
            return None
        return self.open(row["credential_id"], kind, name, row["ciphertext"], row["key_id"])


def _info(row: asyncpg.Record) -> CredentialInfo:
    return CredentialInfo(
        credential_id=row["credential_id"],
        kind=row["kind"],
        name=row["name"],
        hint=row["hint"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
