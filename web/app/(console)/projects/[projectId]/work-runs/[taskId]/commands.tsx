"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema";
import { bytes } from "@/lib/format";
import { addChunk, earlierRange, LOG_PAGE_BYTES, tailRange, type LogChunk, type LogRange } from "@/lib/log-window";
import { ApiProblem, toProblem } from "@/lib/problem";
import { workRunKey } from "./use-work-run";

type CommandStatus = components["schemas"]["CommandStatus"];
type Stream = "stdout" | "stderr";

function LogViewer({ projectId, taskId, command }: { projectId: string; taskId: string; command: CommandStatus }) {
  const [stream, setStream] = useState<Stream>("stdout");
  const [chunks, setChunks] = useState<LogChunk[]>([]);
  const [size, setSize] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function load(range: LogRange, which: Stream, reset: boolean) {
    setBusy(true);
    setError(null);
    try {
      const { data, error: failed, response } = await api.GET(
        "/api/projects/{project_id}/dev-tasks/{task_id}/commands/{command_id}/log",
        {
          params: { path: { project_id: projectId, task_id: taskId, command_id: command.command_id }, query: { stream: which, ...range } },
          parseAs: "text",
        },
      );
      if (!response.ok) throw new ApiProblem(toProblem(response.status, failed));
      const total = Number(response.headers.get("x-log-size") ?? "0");
      const next = Number(response.headers.get("x-next-offset") ?? String(range.offset));
      const start = Math.min(range.offset, total);
      setSize(total);
      const chunk = { start, end: next, text: data ?? "" };
      setChunks((prev) => addChunk(reset ? [] : prev, chunk));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  function openTail(which: Stream) {
    setStream(which);
    void load(tailRange(command[which].size_bytes, LOG_PAGE_BYTES), which, true);
  }

  const first = chunks[0]?.start ?? null;
  const last = chunks.at(-1)?.end ?? null;
  const earlier = first !== null ? earlierRange(first) : null;
  return (
    <section aria-label="Full log" className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center gap-2">
        <Button onClick={() => openTail("stdout")} aria-pressed={stream === "stdout" && chunks.length > 0}>
          Full stdout log
        </Button>
        <Button onClick={() => openTail("stderr")} aria-pressed={stream === "stderr" && chunks.length > 0}>
          Full stderr log
        </Button>
        {chunks.length > 0 ? (
          <>
            <Button disabled={!earlier || busy} onClick={() => earlier && void load(earlier, stream, false)}>
              Earlier
            </Button>
            <Button disabled={busy || last === null} onClick={() => last !== null && void load({ offset: last, limit: LOG_PAGE_BYTES }, stream, false)}>
              Newer
            </Button>
            <span className="text-xs text-muted" data-testid="log-range">
              {stream} bytes {first}–{last} of {size !== null ? bytes(size) : "?"}
            </span>
          </>
        ) : null}
      </div>
      <ProblemAlert error={error} />
      {chunks.length > 0 ? (
        <pre data-testid="full-log" className="max-h-96 overflow-auto rounded-md border border-line bg-bg p-2 font-mono text-xs whitespace-pre-wrap">
          {first ? "… earlier output not loaded …\n" : ""}
          {chunks.map((c) => c.text).join("")}
        </pre>
      ) : null}
    </section>
  );
}

function Preview({ label, preview }: { label: string; preview: CommandStatus["stdout"] }) {
  return (
    <div>
      <div className="mb-1 text-xs text-muted">
        {label}: {bytes(preview.size_bytes)}
        {preview.truncated ? `, ${bytes(preview.omitted_bytes)} omitted from the preview` : ""}
      </div>
      <pre className="max-h-48 overflow-auto rounded-md border border-line bg-bg p-2 font-mono text-xs whitespace-pre-wrap">{preview.preview || "(empty)"}</pre>
    </div>
  );
}

export function Commands({
  projectId,
  taskId,
  selected,
  onSelect,
}: {
  projectId: string;
  taskId: string;
  selected: string | null;
  onSelect: (commandId: string) => void;
}) {
  const commands = useQuery({
    queryKey: [...workRunKey(projectId, taskId), "commands"],
    queryFn: () =>
      unwrap(api.GET("/api/projects/{project_id}/dev-tasks/{task_id}/commands", { params: { path: { project_id: projectId, task_id: taskId } } })),
  });
  const rows = commands.data ?? [];
  const current = rows.find((c) => c.command_id === selected) ?? null;
  return (
    <div className="grid gap-4 lg:grid-cols-[2fr_3fr]">
      <div>
        <ProblemAlert error={commands.error} />
        <ul aria-label="Commands" className="divide-y divide-line rounded-lg border border-line bg-panel">
          {rows.map((c) => (
            <li key={c.command_id}>
              <button
                type="button"
                onClick={() => onSelect(c.command_id)}
                aria-current={c.command_id === selected || undefined}
                data-testid="command-row"
                className="flex w-full flex-col items-start gap-0.5 px-3 py-2 text-left aria-[current]:bg-bg"
              >
                <span className="font-mono text-xs">$ {c.argv.join(" ")}</span>
                <span className={`text-xs ${c.state === "exited" && c.exit_code === 0 ? "text-muted" : "text-danger"}`}>
                  {c.state}
                  {c.exit_code !== null ? ` · exit ${c.exit_code}` : ""}
                  {c.duration_s !== null ? ` · ${c.duration_s.toFixed(2)} s` : ""}
                </span>
              </button>
            </li>
          ))}
          {commands.isSuccess && rows.length === 0 ? <li className="px-3 py-2 text-muted">No commands yet.</li> : null}
        </ul>
      </div>
      <div className="flex flex-col gap-3" data-testid="command-detail">
        {current ? (
          <>
            <h3 className="font-mono text-sm">$ {current.argv.join(" ")}</h3>
            <p className="text-xs text-muted">
              {current.command_id} · cwd {current.cwd} · {current.state}
            </p>
            <Preview label="stdout" preview={current.stdout} />
            <Preview label="stderr" preview={current.stderr} />
            <LogViewer key={current.command_id} projectId={projectId} taskId={taskId} command={current} />
          </>
        ) : (
          <p className="text-muted">Select a command to see its output previews and full log.</p>
        )}
      </div>
    </div>
  );
}
