"use client";

import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { api, unwrap } from "@/lib/api/client";
import { bytes } from "@/lib/format";

/**
 * The agent's memory: the notes its runs recorded (`remember`) are written to
 * memory/<day>.md in its workspace on demand; this shows what the last flush wrote.
 */
export function Memory({ agentId }: { agentId: string }) {
  const [asking, setAsking] = useState(false);
  const flush = useMutation({
    mutationFn: () => unwrap(api.POST("/api/agents/{agent_id}/flush-memory", { params: { path: { agent_id: agentId } } })),
    onSuccess: () => setAsking(false),
  });
  const result = flush.data;
  return (
    <section aria-label="Memory" className="flex flex-col gap-2 rounded-lg border border-line bg-panel p-3">
      <div className="flex items-center justify-between gap-2">
        <h2 className="font-medium">Memory</h2>
        <Button
          onClick={() => {
            flush.reset();
            setAsking(true);
          }}
        >
          Flush memory
        </Button>
      </div>
      <p className="text-muted">Notes the agent&apos;s runs recorded with remember(); each run&apos;s page lists its own.</p>
      {result ? (
        <div data-testid="flush-result" role="status">
          <p>
            Wrote {result.notes} note(s), {bytes(result.bytes)}, to:
          </p>
          <ul className="list-inside list-disc font-mono text-xs">
            {result.files.map((f) => (
              <li key={f}>{f}</li>
            ))}
            {result.files.length === 0 ? <li>no file (no notes)</li> : null}
          </ul>
        </div>
      ) : null}
      <Dialog open={asking} onClose={() => setAsking(false)} title="Flush memory?">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            flush.mutate();
          }}
          className="flex flex-col gap-3"
        >
          <p>Write the notes of all of this agent&apos;s runs to memory/&lt;day&gt;.md in its workspace?</p>
          <ProblemAlert error={flush.error} />
          <div className="flex justify-end gap-2">
            <Button onClick={() => setAsking(false)}>Back</Button>
            <Button type="submit" variant="primary" disabled={flush.isPending} data-autofocus>
              {flush.isPending ? "Working…" : "Confirm flush"}
            </Button>
          </div>
        </form>
      </Dialog>
    </section>
  );
}
