"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { StateBadge } from "@/components/state-badge";
import { Button } from "@/components/ui/button";
import { useListKeys } from "@/components/use-list-keys";
import { api, unwrap } from "@/lib/api/client";
import { age } from "@/lib/format";
import { agentHref, useAgents } from "./queries";

const TOOLS = ["create_dev_task", "get_dev_task", "list_dev_tasks", "remember"] as const;

function NewAgent({ onDone }: { onDone: () => void }) {
  const queryClient = useQueryClient();
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => unwrap(api.GET("/api/projects")) });
  const create = useMutation({
    mutationFn: (body: { project_id: string; role: string; model: string; agent_id?: string; policies: Record<string, "operator_approval"> }) =>
      unwrap(api.POST("/api/agents", { body })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["agents"] });
      onDone();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const agentId = String(form.get("agent_id") ?? "").trim();
    const policies = Object.fromEntries(form.getAll("approval").map((t) => [String(t), "operator_approval" as const]));
    create.mutate({
      project_id: String(form.get("project_id")),
      role: String(form.get("role") ?? "keeper").trim() || "keeper",
      model: String(form.get("model") ?? "").trim(),
      ...(agentId ? { agent_id: agentId } : {}),
      policies,
    });
  }
  return (
    <form onSubmit={submit} aria-label="New agent" className="flex flex-wrap items-end gap-3 rounded-lg border border-line bg-panel p-4">
      <label className="flex flex-col gap-1">
        Project
        <select name="project_id" required className="rounded-md border border-line bg-bg px-2 py-1.5">
          {(projects.data ?? []).map((p) => (
            <option key={p.project_id} value={p.project_id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label className="flex flex-col gap-1">
        Agent id (optional)
        <input name="agent_id" className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
      </label>
      <label className="flex flex-col gap-1">
        Role
        <input name="role" defaultValue="keeper" className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <label className="flex flex-col gap-1">
        Model
        <input name="model" required className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
      </label>
      <fieldset className="flex flex-wrap gap-3">
        <legend className="mb-1">Tools that need an operator&apos;s approval</legend>
        {TOOLS.map((t) => (
          <label key={t} className="flex items-center gap-1.5 font-mono text-xs">
            <input type="checkbox" name="approval" value={t} />
            {t}
          </label>
        ))}
      </fieldset>
      <Button type="submit" variant="primary" disabled={create.isPending}>
        Create agent
      </Button>
      <div className="w-full">
        <ProblemAlert error={create.error} />
      </div>
    </form>
  );
}

export default function AgentsPage() {
  const router = useRouter();
  const agents = useAgents();
  const rows = agents.data ?? [];
  const silent = rows.filter((a) => a.silent).length;
  const open = useCallback(
    (i: number) => {
      const a = rows[i];
      if (a) router.push(agentHref(a.agent_id));
    },
    [rows, router],
  );
  const [selected] = useListKeys(rows.length, open, "agents");
  const [showCreate, setShowCreate] = useState(false);
  const now = Date.now();

  return (
    <section className="flex flex-col gap-4">
      <div className="flex items-center justify-between">
        <div>
          <h1 className="text-xl font-semibold">Agents</h1>
          <p className="text-muted" role="status">
            {rows.length} agent(s){silent ? `, ${silent} silent` : ""}
          </p>
        </div>
        <Button onClick={() => setShowCreate((v) => !v)} aria-expanded={showCreate}>
          New agent
        </Button>
      </div>
      {showCreate ? <NewAgent onDone={() => setShowCreate(false)} /> : null}
      <ProblemAlert error={agents.error} />
      <div className="overflow-x-auto rounded-lg border border-line bg-panel">
        <table className="w-full text-left" aria-label="Agents">
          <thead className="border-b border-line text-muted">
            <tr>
              <th className="px-3 py-2 font-medium">Agent</th>
              <th className="px-3 py-2 font-medium">Health</th>
              <th className="px-3 py-2 font-medium">Role</th>
              <th className="px-3 py-2 font-medium">Model</th>
              <th className="px-3 py-2 font-medium">Pool</th>
              <th className="px-3 py-2 font-medium">Last healthy</th>
              <th className="px-3 py-2 font-medium">Approval needed for</th>
            </tr>
          </thead>
          <tbody data-list="agents" className="divide-y divide-line">
            {rows.map((a, i) => (
              <tr
                key={a.agent_id}
                data-index={i}
                data-testid="agent-row"
                data-silent={a.silent || undefined}
                tabIndex={-1}
                data-selected={i === selected || undefined}
                // A silent agent stands out in the list, not only in its badge.
                className={`${a.silent ? "bg-del" : ""} data-[selected]:outline data-[selected]:outline-2 data-[selected]:outline-accent`}
              >
                <td className="px-3 py-2">
                  <Link href={agentHref(a.agent_id)} className="font-mono text-accent hover:underline">
                    {a.agent_id}
                  </Link>
                </td>
                <td className="px-3 py-2">
                  <StateBadge state={a.status} />
                </td>
                <td className="px-3 py-2">{a.role}</td>
                <td className="px-3 py-2 font-mono text-xs">{a.model}</td>
                <td className="px-3 py-2 font-mono text-xs">{a.pool}</td>
                <td className="px-3 py-2" title={a.last_healthy_at ?? undefined}>
                  {a.last_healthy_at ? `${age(a.last_healthy_at, now)} ago` : "never"}
                </td>
                <td className="px-3 py-2 font-mono text-xs">
                  {Object.entries(a.policies)
                    .filter(([, p]) => p === "operator_approval")
                    .map(([t]) => t)
                    .join(", ") || "—"}
                </td>
              </tr>
            ))}
            {agents.isSuccess && rows.length === 0 ? (
              <tr>
                <td colSpan={7} className="px-3 py-4 text-muted">
                  No agents yet.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}
