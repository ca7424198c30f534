"use client";

import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";

/** States a Work Run only reaches through an approval. */
const APPROVED_STATES = new Set(["approved", "applied", "apply_failed"]);
/** TaskApproved sits among the last few events (PatchApplied/ApplyFailed and apply records follow). */
const TAIL = 8;

/**
 * Who approved a Work Run. DevTaskStatus does not carry it, so the cell reads the
 * stream's tail (a handful of events, cached by stream version) for approved rows only.
 */
export function ApprovedBy({ projectId, taskId, state, version }: { projectId: string; taskId: string; state: string; version: number }) {
  const approved = APPROVED_STATES.has(state);
  const tail = useQuery({
    queryKey: ["work-run", projectId, taskId, "approved-by", version],
    enabled: approved,
    staleTime: Infinity,
    queryFn: () =>
      unwrap(
        api.GET("/api/projects/{project_id}/dev-tasks/{task_id}/events", {
          params: { path: { project_id: projectId, task_id: taskId }, query: { after: Math.max(0, version - TAIL), limit: TAIL } },
        }),
      ),
  });
  if (!approved) return <>—</>;
  const events = Array.isArray(tail.data) ? tail.data : [];
  const approval = events.findLast((e) => e.event_type === "TaskApproved");
  return <>{approval ? String(approval.payload.approved_by ?? "?") : tail.isPending ? "…" : "?"}</>;
}
