"""Agent pools: where agent runtimes run (in the gateway, as local processes, as Pods).

Every pool offers the same `AgentPool` surface, so `/api/agents` behaves the
same over each; the composition root picks one from HIVE_POOL_BACKEND and
HIVE_CONTAINER_RUNTIME_BACKEND (`selection.pool_from_settings`).
"""
