"""Credentials: provider and channel secrets, encrypted at rest, write-only over HTTP."""
