"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { useShortcuts, type ShortcutHandlers } from "@/components/use-shortcuts";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import { workRunKey } from "./use-work-run";

type Status = components["schemas"]["DevTaskStatus"];
type Action = "approve" | "reject" | "resume" | "requeue" | "cancel";

interface ActionSpec {
  label: string;
  /** States the sandbox accepts it in (libs/events workrun.py: RESUMABLE, REQUEUEABLE, CANCELLABLE). */
  states: readonly string[];
  question: string;
  variant: "primary" | "secondary" | "danger";
  asksReason: boolean;
  key?: string;
}

const ACTIONS: Record<Action, ActionSpec> = {
  approve: { label: "Approve", states: ["awaiting_review", "approved"], question: "Apply the proposed patch to the project's workspace?", variant: "primary", asksReason: false, key: "a" },
  reject: { label: "Reject", states: ["awaiting_review"], question: "Reject the proposed patch? Nothing is applied.", variant: "danger", asksReason: true },
  resume: { label: "Resume", states: ["failed", "stale"], question: "Start a new attempt in the same workspace from the latest durable checkpoint?", variant: "primary", asksReason: false, key: "r" },
  requeue: { label: "Requeue", states: ["stale", "failed", "cancelled", "rejected", "apply_failed"], question: "Start a new Work Run from this one's seed (a fresh workspace)?", variant: "secondary", asksReason: true },
  cancel: { label: "Cancel", states: ["queued", "running", "stale", "failed", "awaiting_review", "apply_failed"], question: "Cancel this Work Run? A running attempt is stopped.", variant: "danger", asksReason: true },
};

const PATHS = {
  approve: "/api/projects/{project_id}/dev-tasks/{task_id}/approve",
  reject: "/api/projects/{project_id}/dev-tasks/{task_id}/reject",
  resume: "/api/projects/{project_id}/dev-tasks/{task_id}/resume",
  requeue: "/api/projects/{project_id}/dev-tasks/{task_id}/requeue",
  cancel: "/api/projects/{project_id}/dev-tasks/{task_id}/cancel",
} as const;

export function Actions({ projectId, taskId, status }: { projectId: string; taskId: string; status: Status }) {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [pending, setPending] = useState<Action | null>(null);
  const run = useMutation({
    mutationFn: ({ action, reason }: { action: Action; reason: string | null }) =>
      unwrap(
        api.POST(PATHS[action], {
          params: { path: { project_id: projectId, task_id: taskId } },
          body: reason ? { reason } : {},
        }),
      ),
    onSuccess: async (result, { action }) => {
      setPending(null);
      await queryClient.invalidateQueries({ queryKey: workRunKey(projectId, taskId) });
      if (action === "requeue" && result.task_id !== taskId) {
        router.push(`/projects/${encodeURIComponent(projectId)}/work-runs/${encodeURIComponent(result.task_id)}`);
      }
    },
  });
  const allowed = (a: Action) => ACTIONS[a].states.includes(status.state) && !(a === "requeue" && status.requeued_to);

  const ask = (a: Action) => {
    run.reset();
    setPending(a);
  };
  const shortcuts: ShortcutHandlers = {};
  for (const a of Object.keys(ACTIONS) as Action[]) {
    const key = ACTIONS[a].key;
    if (!key) continue;
    shortcuts[key] = (e) => {
      if (!allowed(a)) return;
      e.preventDefault();
      ask(a);
    };
  }
  useShortcuts(shortcuts);

  function confirm(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!pending) return;
    const reason = String(new FormData(e.currentTarget).get("reason") ?? "").trim();
    run.mutate({ action: pending, reason: reason || null });
  }

  const spec = pending ? ACTIONS[pending] : null;
  return (
    <div className="flex flex-wrap gap-2" aria-label="Review and recovery actions" role="toolbar">
      {(Object.keys(ACTIONS) as Action[]).map((a) => (
        <Button
          key={a}
          variant={ACTIONS[a].variant}
          disabled={!allowed(a)}
          aria-keyshortcuts={ACTIONS[a].key}
          onClick={() => ask(a)}
        >
          {ACTIONS[a].label}
        </Button>
      ))}
      <Dialog open={spec !== null} onClose={() => setPending(null)} title={spec ? `${spec.label} ${taskId}?` : ""}>
        {spec ? (
          <form onSubmit={confirm} className="flex flex-col gap-3">
            <p>{spec.question}</p>
            {spec.asksReason ? (
              <label className="flex flex-col gap-1">
                Reason (optional)
                <textarea name="reason" rows={3} className="rounded-md border border-line bg-bg px-2 py-1.5" />
              </label>
            ) : null}
            <ProblemAlert error={run.error} />
            <div className="flex justify-end gap-2">
              <Button onClick={() => setPending(null)}>Back</Button>
              <Button type="submit" variant={spec.variant} disabled={run.isPending} data-autofocus>
                {run.isPending ? "Working…" : `Confirm ${spec.label.toLowerCase()}`}
              </Button>
            </div>
          </form>
        ) : null}
      </Dialog>
    </div>
  );
}
