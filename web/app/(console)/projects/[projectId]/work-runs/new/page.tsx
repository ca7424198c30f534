"use client";

import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useMutation } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";

type CreateBody = components["schemas"]["ProjectDevTaskCreate"];

const BACKENDS: ReadonlyArray<[string, string]> = [
  ["", "sandbox default"],
  ["codex_cli", "codex_cli — the Codex CLI"],
  ["relay_helper", "relay_helper — through the gateway relay"],
  ["deterministic_proof", "deterministic_proof — a JSON plan, no model"],
];

const PLAN_EXAMPLE = `{"steps": [{"write": {"path": "hello.txt", "content": "hi\\n"}}, {"run": {"argv": ["ls"]}}]}`;

export default function NewWorkRunPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const router = useRouter();
  const create = useMutation({
    mutationFn: (body: CreateBody) =>
      unwrap(api.POST("/api/projects/{project_id}/dev-tasks", { params: { path: { project_id: projectId } }, body })),
    onSuccess: (task) => router.push(`/projects/${encodeURIComponent(projectId)}/work-runs/${encodeURIComponent(task.task_id)}`),
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const backend = String(form.get("backend") ?? "");
    const targets = String(form.get("target_paths") ?? "")
      .split(/[\n,]/)
      .map((p) => p.trim())
      .filter(Boolean);
    const taskId = String(form.get("task_id") ?? "").trim();
    create.mutate({
      instructions: String(form.get("instructions") ?? ""),
      ...(backend ? { backend } : {}),
      ...(targets.length ? { target_paths: targets } : {}),
      ...(taskId ? { task_id: taskId } : {}),
    });
  }

  return (
    <section className="flex max-w-3xl flex-col gap-4">
      <p className="text-muted">
        <Link href={`/projects/${encodeURIComponent(projectId)}/work-runs`} className="hover:underline">
          Work Runs
        </Link>{" "}
        / new
      </p>
      <h1 className="text-xl font-semibold">New Work Run</h1>
      <form onSubmit={submit} aria-label="New Work Run" className="flex flex-col gap-4 rounded-lg border border-line bg-panel p-5">
        <label className="flex flex-col gap-1">
          Backend
          <select name="backend" defaultValue="" autoFocus className="rounded-md border border-line bg-bg px-2 py-1.5">
            {BACKENDS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-1">
          Instructions
          <textarea name="instructions" required rows={8} className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" aria-describedby="instructions-help" />
          <span id="instructions-help" className="text-xs text-muted">
            What the coding agent should do. For deterministic_proof, a plan: <code className="font-mono">{PLAN_EXAMPLE}</code>
          </span>
        </label>
        <label className="flex flex-col gap-1">
          Target paths (optional, comma or newline separated)
          <textarea name="target_paths" rows={2} className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
        </label>
        <label className="flex flex-col gap-1">
          Task id (optional)
          <input name="task_id" className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
        </label>
        <ProblemAlert error={create.error} />
        <div>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create Work Run"}
          </Button>
        </div>
      </form>
    </section>
  );
}
