"use client";

import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import type { StoredEvent } from "@/lib/timeline";

export type AgentView = components["schemas"]["AgentView"];
export type RunResult = components["schemas"]["RunResult"];
export type PendingRequest = components["schemas"]["ApprovalRequestView"];

/** A row of GET /api/agents/{id}/runs (the gateway types it as a plain object). */
export interface RunRow {
  run_id: string;
  status: string;
  stream_version: number;
}

/** Statuses in which a run still moves (the pages poll while one is shown). */
export const ACTIVE = new Set(["running", "awaiting_input"]);

export const agentKey = (agentId: string) => ["agent", agentId] as const;

export function agentHref(agentId: string, runId?: string): string {
  const base = `/agents/${encodeURIComponent(agentId)}`;
  return runId ? `${base}/runs/${encodeURIComponent(runId)}` : base;
}

export function useAgents() {
  return useQuery({
    queryKey: ["agents"],
    queryFn: () => unwrap(api.GET("/api/agents")),
    // Health is polled by the gateway; this shows its latest view.
    refetchInterval: 5_000,
  });
}

export function useAgent(agentId: string) {
  return useQuery({
    queryKey: [...agentKey(agentId), "view"],
    queryFn: () => unwrap(api.GET("/api/agents/{agent_id}", { params: { path: { agent_id: agentId } } })),
    refetchInterval: 5_000,
  });
}

export function useRuns(agentId: string) {
  return useQuery({
    queryKey: [...agentKey(agentId), "runs"],
    queryFn: async (): Promise<RunRow[]> => {
      const rows = await unwrap(api.GET("/api/agents/{agent_id}/runs", { params: { path: { agent_id: agentId } } }));
      return rows.map((r) => ({ run_id: String(r.run_id), status: String(r.status), stream_version: Number(r.stream_version ?? 0) }));
    },
    refetchInterval: 2_000,
  });
}

export function useRun(agentId: string, runId: string) {
  return useQuery({
    queryKey: [...agentKey(agentId), "run", runId],
    queryFn: () => unwrap(api.GET("/api/agents/{agent_id}/runs/{run_id}", { params: { path: { agent_id: agentId, run_id: runId } } })),
    refetchInterval: (q) => (q.state.data && !ACTIVE.has(q.state.data.status) ? false : 1_500),
  });
}

/**
 * The run's whole stream. Agent runs are short (tens of events), so each poll reads it
 * from the start; polling stops once the run has finished (`active` false) and the
 * stream holds `version` events (the run's last known stream_version).
 */
export function useRunEvents(agentId: string, runId: string, active: boolean, version: number) {
  return useQuery({
    queryKey: [...agentKey(agentId), "run", runId, "events"],
    queryFn: async (): Promise<StoredEvent[]> =>
      unwrap(
        api.GET("/api/agents/{agent_id}/runs/{run_id}/events", {
          params: { path: { agent_id: agentId, run_id: runId }, query: { limit: 10_000 } },
        }),
      ),
    refetchInterval: (q) => (active || (q.state.data?.length ?? 0) < version ? 1_500 : false),
  });
}
