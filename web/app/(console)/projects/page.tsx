"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { useListKeys } from "@/components/use-list-keys";
import { api, unwrap } from "@/lib/api/client";

export default function ProjectsPage() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => unwrap(api.GET("/api/projects")) });
  const rows = projects.data ?? [];
  const open = useCallback((i: number) => {
    const p = rows[i];
    if (p) router.push(`/projects/${encodeURIComponent(p.project_id)}/work-runs`);
  }, [rows, router]);
  const [selected] = useListKeys(rows.length, open, "projects");
  const [showCreate, setShowCreate] = useState(false);
  const create = useMutation({
    mutationFn: (body: { name: string; workspace_path?: string }) => unwrap(api.POST("/api/projects", { body })),
    onSuccess: async () => {
      setShowCreate(false);
      await queryClient.invalidateQueries({ queryKey: ["projects"] });
    },
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const workspace = String(form.get("workspace_path") ?? "").trim();
    create.mutate({ name: String(form.get("name")), ...(workspace ? { workspace_path: workspace } : {}) });
  }

  return (
    <section className="flex flex-col gap-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-semibold">Projects</h1>
        <Button onClick={() => setShowCreate((v) => !v)} aria-expanded={showCreate}>
          New project
        </Button>
      </div>
      {showCreate ? (
        <form onSubmit={submit} aria-label="New project" className="flex flex-wrap items-end gap-3 rounded-lg border border-line bg-panel p-4">
          <label className="flex flex-col gap-1">
            Name
            <input name="name" required className="rounded-md border border-line bg-bg px-2 py-1.5" />
          </label>
          <label className="flex min-w-80 flex-1 flex-col gap-1">
            Workspace path (optional)
            <input name="workspace_path" className="rounded-md border border-line bg-bg px-2 py-1.5 font-mono" />
          </label>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            Create
          </Button>
          <div className="w-full">
            <ProblemAlert error={create.error} />
          </div>
        </form>
      ) : null}
      <ProblemAlert error={projects.error} />
      <ul data-list="projects" className="divide-y divide-line rounded-lg border border-line bg-panel" aria-label="Projects">
        {rows.map((p, i) => (
          <li key={p.project_id} data-index={i} tabIndex={-1} data-selected={i === selected || undefined} className="px-4 py-3 data-[selected]:bg-bg">
            <Link href={`/projects/${encodeURIComponent(p.project_id)}/work-runs`} className="font-medium text-accent hover:underline">
              {p.name}
            </Link>
            <span className="ml-3 font-mono text-xs text-muted">{p.workspace_path}</span>
          </li>
        ))}
        {projects.isSuccess && rows.length === 0 ? <li className="px-4 py-3 text-muted">No projects yet.</li> : null}
      </ul>
    </section>
  );
}
