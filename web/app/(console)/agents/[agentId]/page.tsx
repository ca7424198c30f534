"use client";

import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useCallback, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { Button } from "@/components/ui/button";
import { useListKeys } from "@/components/use-list-keys";
import { api, unwrap } from "@/lib/api/client";
import { age } from "@/lib/format";
import { Decision } from "../decision";
import { agentHref, agentKey, useAgent, useRun, useRuns, type AgentView } from "../queries";
import { Memory } from "./memory";
import { Schedules } from "./schedules";

function Health({ agent }: { agent: AgentView }) {
  const health = agent.health ?? {};
  return (
    <section aria-label="Health" className={`rounded-lg border p-3 ${agent.silent ? "border-danger bg-del" : "border-line bg-panel"}`} data-testid="agent-health">
      <h2 className="mb-2 font-medium">Health</h2>
      {agent.silent ? (
        <p role="alert" className="mb-2 font-medium text-danger">
          Silent: the runtime has not answered its health check since {agent.last_healthy_at ? `${age(agent.last_healthy_at)} ago` : "it was created"}.
        </p>
      ) : null}
      <dl className="grid grid-cols-[12rem_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="text-muted">agent status</dt>
        <dd>
          <StateBadge state={agent.status} />
        </dd>
        <dt className="text-muted">last healthy</dt>
        <dd>{agent.last_healthy_at ? new Date(agent.last_healthy_at).toLocaleString() : "never"}</dd>
        {Object.entries(health).map(([k, v]) => (
          <div key={k} className="contents">
            <dt className="font-mono text-xs text-muted">{k}</dt>
            <dd className="font-mono text-xs">{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/** One run stopped on a request, decided right here (the run page has the same controls). */
function PendingRun({ agentId, runId }: { agentId: string; runId: string }) {
  const run = useRun(agentId, runId);
  const pending = run.data?.pending;
  if (!pending) return null;
  return (
    <li className="flex flex-col gap-1">
      <Link href={agentHref(agentId, runId)} className="font-mono text-xs text-accent hover:underline">
        run {runId}
      </Link>
      <Decision agentId={agentId} runId={runId} pending={pending} />
    </li>
  );
}

function StartRun({ agentId }: { agentId: string }) {
  const queryClient = useQueryClient();
  const start = useMutation({
    // wait_s 0: answer at once; the runs list follows the run from there.
    mutationFn: (input: string) => unwrap(api.POST("/api/agents/{agent_id}/runs", { params: { path: { agent_id: agentId } }, body: { input, wait_s: 0 } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: agentKey(agentId) });
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const input = String(new FormData(e.currentTarget).get("input") ?? "").trim();
    if (input) start.mutate(input, { onSuccess: () => (e.target as HTMLFormElement).reset() });
  }
  return (
    <form onSubmit={submit} aria-label="Start a run" className="flex flex-wrap items-end gap-2">
      <label className="flex min-w-80 flex-1 flex-col gap-1">
        Run input
        <input name="input" required placeholder="what the agent should do" className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <Button type="submit" variant="primary" disabled={start.isPending}>
        {start.isPending ? "Starting…" : "Start run"}
      </Button>
      <div className="w-full">
        <ProblemAlert error={start.error} />
      </div>
    </form>
  );
}

export default function AgentPage() {
  const { agentId } = useParams<{ agentId: string }>();
  const router = useRouter();
  const agent = useAgent(agentId);
  const runs = useRuns(agentId);
  const rows = runs.data ?? [];
  const waiting = rows.filter((r) => r.status === "awaiting_input");
  const open = useCallback(
    (i: number) => {
      const r = rows[i];
      if (r) router.push(agentHref(agentId, r.run_id));
    },
    [rows, router, agentId],
  );
  const [selected] = useListKeys(rows.length, open, "agent-runs");
  const a = agent.data;

  return (
    <section className="flex flex-col gap-4">
      <p className="text-muted">
        <Link href="/agents" className="hover:underline">
          Agents
        </Link>{" "}
        / {agentId}
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="font-mono text-xl font-semibold">{agentId}</h1>
        {a ? (
          <span data-testid="agent-status">
            <StateBadge state={a.status} />
          </span>
        ) : null}
        {a ? (
          <span className="text-muted">
            {a.role} · {a.model} · pool {a.pool} ·{" "}
            <Link href={`/projects/${encodeURIComponent(a.project_id)}/work-runs`} className="hover:underline">
              project {a.project_id}
            </Link>
          </span>
        ) : null}
      </div>
      <ProblemAlert error={agent.error} />
      {a ? <Health agent={a} /> : null}
      <section aria-label="Pending requests" className="flex flex-col gap-2">
        <h2 className="font-medium">Pending requests</h2>
        {waiting.length ? (
          <ul className="flex flex-col gap-3">
            {waiting.map((r) => (
              <PendingRun key={r.run_id} agentId={agentId} runId={r.run_id} />
            ))}
          </ul>
        ) : (
          <p className="text-muted">No run waits for a decision.</p>
        )}
      </section>
      <section aria-label="Runs" className="flex flex-col gap-2">
        <h2 className="font-medium">Runs</h2>
        <StartRun agentId={agentId} />
        <ProblemAlert error={runs.error} />
        <div className="overflow-x-auto rounded-lg border border-line bg-panel">
          <table className="w-full text-left" aria-label="Runs">
            <thead className="border-b border-line text-muted">
              <tr>
                <th className="px-3 py-2 font-medium">Run</th>
                <th className="px-3 py-2 font-medium">Status</th>
                <th className="px-3 py-2 font-medium">Events</th>
              </tr>
            </thead>
            <tbody data-list="agent-runs" className="divide-y divide-line">
              {rows.map((r, i) => (
                <tr key={r.run_id} data-index={i} data-testid="run-row" tabIndex={-1} data-selected={i === selected || undefined} className="data-[selected]:bg-bg">
                  <td className="px-3 py-2">
                    <Link href={agentHref(agentId, r.run_id)} className="font-mono text-accent hover:underline">
                      {r.run_id}
                    </Link>
                  </td>
                  <td className="px-3 py-2">
                    <StateBadge state={r.status} />
                  </td>
                  <td className="px-3 py-2">{r.stream_version}</td>
                </tr>
              ))}
              {runs.isSuccess && rows.length === 0 ? (
                <tr>
                  <td colSpan={3} className="px-3 py-4 text-muted">
                    No runs yet.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </section>
      <Schedules agentId={agentId} />
      <Memory agentId={agentId} />
    </section>
  );
}
