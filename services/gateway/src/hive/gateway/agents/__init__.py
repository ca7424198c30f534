"""Managed agents: registry, run journal, the /api/agents and internal agent APIs."""
