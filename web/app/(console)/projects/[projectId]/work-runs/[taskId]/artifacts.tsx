import type { components } from "@/lib/api/schema";
import { API_BASE } from "@/lib/api/client";
import { bytes } from "@/lib/format";

type Status = components["schemas"]["DevTaskStatus"];

export function Artifacts({ projectId, taskId, status }: { projectId: string; taskId: string; status: Status }) {
  const artifacts = status.artifacts ?? [];
  if (artifacts.length === 0) return <p className="text-muted">No artifacts yet.</p>;
  return (
    <table className="w-full rounded-lg border border-line bg-panel text-left" aria-label="Artifacts">
      <thead className="text-muted">
        <tr>
          <th className="px-3 py-2 font-medium">Name</th>
          <th className="px-3 py-2 font-medium">Attempt</th>
          <th className="px-3 py-2 font-medium">Size</th>
          <th className="px-3 py-2 font-medium">SHA-256</th>
        </tr>
      </thead>
      <tbody className="divide-y divide-line">
        {artifacts.map((a) => (
          <tr key={a.name}>
            <td className="px-3 py-2">
              <a
                href={`${API_BASE}/api/projects/${encodeURIComponent(projectId)}/dev-tasks/${encodeURIComponent(taskId)}/artifacts/${encodeURIComponent(a.name)}`}
                download={a.name}
                className="font-mono text-accent hover:underline"
              >
                {a.name}
              </a>
            </td>
            <td className="px-3 py-2">{a.attempt_no ?? "—"}</td>
            <td className="px-3 py-2">{bytes(a.size_bytes)}</td>
            <td className="px-3 py-2 font-mono text-xs text-muted">{a.sha256.slice(0, 16)}…</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
