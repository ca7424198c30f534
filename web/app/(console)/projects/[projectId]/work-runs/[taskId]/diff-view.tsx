"use client";

import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { useShortcuts } from "@/components/use-shortcuts";
import { api } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import { parseUnifiedDiff, sideBySide, type DiffFile, type DiffLine } from "@/lib/diff";
import { ApiProblem, toProblem } from "@/lib/problem";
import type { StoredEvent } from "@/lib/timeline";
import { workRunKey } from "./use-work-run";

type Status = components["schemas"]["DevTaskStatus"];

const LINE_TONE: Record<DiffLine["kind"], string> = { add: "bg-add", del: "bg-del", context: "", note: "text-muted italic" };
const SIGN: Record<DiffLine["kind"], string> = { add: "+", del: "-", context: " ", note: "" };

function Num({ n }: { n: number | null }) {
  return <span className="inline-block w-10 shrink-0 pr-2 text-right text-muted select-none">{n ?? ""}</span>;
}

function UnifiedFile({ file }: { file: DiffFile }) {
  return (
    <>
      {file.hunks.map((h, i) => (
        <div key={i}>
          <div className="bg-bg px-2 text-muted">{h.header}</div>
          {h.lines.map((l, j) => (
            <div key={j} className={`flex ${LINE_TONE[l.kind]}`}>
              <Num n={l.oldNo} />
              <Num n={l.newNo} />
              <span className="whitespace-pre-wrap break-all">
                {SIGN[l.kind]}
                {l.text}
              </span>
            </div>
          ))}
        </div>
      ))}
    </>
  );
}

function SplitFile({ file }: { file: DiffFile }) {
  return (
    <>
      {file.hunks.map((h, i) => (
        <div key={i}>
          <div className="bg-bg px-2 text-muted">{h.header}</div>
          {sideBySide(h).map((row, j) => (
            <div key={j} className="grid grid-cols-2">
              <div className={`flex ${row.left ? LINE_TONE[row.left.kind === "context" ? "context" : "del"] : ""}`}>
                <Num n={row.left?.oldNo ?? null} />
                <span className="whitespace-pre-wrap break-all">{row.left?.text ?? ""}</span>
              </div>
              <div className={`flex ${row.right ? LINE_TONE[row.right.kind] : ""}`}>
                <Num n={row.right?.newNo ?? null} />
                <span className="whitespace-pre-wrap break-all">{row.right?.text ?? ""}</span>
              </div>
            </div>
          ))}
        </div>
      ))}
    </>
  );
}

export function DiffView({ projectId, taskId, status, events }: { projectId: string; taskId: string; status: Status; events: StoredEvent[] }) {
  const patch = status.patch ?? null;
  const diff = useQuery({
    queryKey: [...workRunKey(projectId, taskId), "patch", patch?.sha256 ?? "none"],
    enabled: patch !== null,
    queryFn: async () => {
      const { data, error, response } = await api.GET("/api/projects/{project_id}/dev-tasks/{task_id}/patch", {
        params: { path: { project_id: projectId, task_id: taskId } },
        parseAs: "text",
      });
      if (!response.ok) throw new ApiProblem(toProblem(response.status, error));
      return data ?? "";
    },
  });
  const files = useMemo(() => parseUnifiedDiff(diff.data ?? ""), [diff.data]);
  const [fileIndex, setFileIndex] = useState(0);
  const [split, setSplit] = useState(false);
  // Earlier attempts' proposals: the sandbox keeps the latest patch text, the stream keeps every summary.
  const proposals = events.filter((e) => e.event_type === "PatchProposed");

  useShortcuts({
    n: () => setFileIndex((i) => Math.min(files.length - 1, i + 1)),
    p: () => setFileIndex((i) => Math.max(0, i - 1)),
  });

  if (patch === null) return <p className="text-muted">No patch proposed yet.</p>;
  const file = files[Math.min(fileIndex, files.length - 1)];
  return (
    <div className="flex flex-col gap-3" data-testid="diff">
      <div className="flex flex-wrap items-center gap-3">
        <h3 className="font-medium" data-testid="diff-attempt">
          Attempt {patch.attempt_no}: {patch.files_changed} files, +{patch.insertions} −{patch.deletions}
        </h3>
        <Button onClick={() => setSplit((v) => !v)} aria-pressed={split}>
          Side by side
        </Button>
        {proposals.length > 1 ? (
          <span className="text-xs text-muted">
            earlier proposals:{" "}
            {proposals
              .filter((e) => e.payload.attempt_no !== patch.attempt_no)
              .map((e) => `attempt ${String(e.payload.attempt_no)} (+${String(e.payload.insertions)} −${String(e.payload.deletions)})`)
              .join(", ")}
          </span>
        ) : null}
      </div>
      <ProblemAlert error={diff.error} />
      <div className="grid gap-3 lg:grid-cols-[16rem_1fr]">
        <nav aria-label="Changed files">
          <ul className="flex flex-col rounded-lg border border-line bg-panel">
            {files.map((f, i) => (
              <li key={f.path}>
                <button
                  type="button"
                  onClick={() => setFileIndex(i)}
                  aria-current={i === fileIndex || undefined}
                  className="flex w-full justify-between gap-2 px-3 py-1.5 text-left font-mono text-xs aria-[current]:bg-bg"
                >
                  <span className="truncate">{f.path}</span>
                  <span className="shrink-0">
                    <span className="text-ok">+{f.insertions}</span> <span className="text-danger">−{f.deletions}</span>
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </nav>
        {file ? (
          <section aria-label={`Diff of ${file.path}`} className="overflow-x-auto rounded-lg border border-line bg-panel font-mono text-xs">
            <div className="border-b border-line px-3 py-1.5 font-medium" data-testid="diff-file">
              {file.path} <span className="text-muted">({file.status})</span>
            </div>
            {file.status === "binary" ? <p className="p-3 text-muted">Binary file.</p> : split ? <SplitFile file={file} /> : <UnifiedFile file={file} />}
          </section>
        ) : diff.isSuccess ? (
          <p className="text-muted">The patch is empty.</p>
        ) : null}
      </div>
    </div>
  );
}
