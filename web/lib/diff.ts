/**
 * Unified diffs (git's `diff --git` output, what GET .../patch returns) into files,
 * hunks and numbered lines, plus the pairing used by the side-by-side view.
 *
 * Parsing is line-based and tolerant: an unknown header line is skipped rather than
 * failing the whole review, because a patch that renders partially is still reviewable.
 */

export type LineKind = "context" | "add" | "del" | "note";

export interface DiffLine {
  kind: LineKind;
  text: string;
  oldNo: number | null;
  newNo: number | null;
}

export interface Hunk {
  header: string;
  lines: DiffLine[];
}

export type FileStatus = "modified" | "added" | "deleted" | "renamed" | "binary";

export interface DiffFile {
  oldPath: string | null;
  newPath: string | null;
  /** The path to show: the new one unless the file was deleted. */
  path: string;
  status: FileStatus;
  insertions: number;
  deletions: number;
  hunks: Hunk[];
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

function stripPrefix(raw: string): string | null {
  const p = raw.replace(/\t.*$/, "").trim();
  if (p === "/dev/null") return null;
  const unquoted = p.startsWith('"') && p.endsWith('"') ? p.slice(1, -1) : p;
  return unquoted.replace(/^[ab]\//, "");
}

function newFile(header: string): DiffFile {
  // "diff --git a/x b/x": a fallback for paths when ---/+++ are absent (binary, mode-only).
  const m = /^diff --git "?a\/(.+?)"? "?b\/(.+?)"?$/.exec(header);
  const oldPath = m?.[1] ?? null;
  const newPath = m?.[2] ?? null;
  return {
    oldPath,
    newPath,
    path: newPath ?? oldPath ?? "(unknown)",
    status: "modified",
    insertions: 0,
    deletions: 0,
    hunks: [],
  };
}

/** Parse a unified diff into files; an empty or non-diff text gives []. */
export function parseUnifiedDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  let file: DiffFile | null = null;
  let hunk: Hunk | null = null;
  let oldNo = 0;
  let newNo = 0;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) {
    if (line.startsWith("diff --git ")) {
      file = newFile(line);
      files.push(file);
      hunk = null;
      continue;
    }
    if (file === null) {
      // A diff without git headers starts its first file at "--- ".
      if (!line.startsWith("--- ")) continue;
      file = newFile("");
      files.push(file);
    }
    if (hunk === null || (!line.startsWith(" ") && !line.startsWith("+") && !line.startsWith("-") && !line.startsWith("\\"))) {
      hunk = null;
      const m = HUNK.exec(line);
      if (m) {
        oldNo = Number(m[1]);
        newNo = Number(m[2]);
        hunk = { header: line, lines: [] };
        file.hunks.push(hunk);
      } else if (line.startsWith("--- ")) {
        file.oldPath = stripPrefix(line.slice(4));
      } else if (line.startsWith("+++ ")) {
        file.newPath = stripPrefix(line.slice(4));
      } else if (line.startsWith("new file mode")) {
        file.status = "added";
      } else if (line.startsWith("deleted file mode")) {
        file.status = "deleted";
      } else if (line.startsWith("rename from ")) {
        file.status = "renamed";
        file.oldPath = line.slice("rename from ".length);
      } else if (line.startsWith("rename to ")) {
        file.newPath = line.slice("rename to ".length);
      } else if (line.startsWith("Binary files ") || line === "GIT binary patch") {
        file.status = "binary";
      }
      file.path = file.newPath ?? file.oldPath ?? file.path;
      if (file.newPath === null && file.oldPath !== null) file.status = "deleted";
      if (file.oldPath === null && file.newPath !== null && file.status === "modified") file.status = "added";
      continue;
    }
    if (line.startsWith("+")) {
      hunk.lines.push({ kind: "add", text: line.slice(1), oldNo: null, newNo: newNo++ });
      file.insertions++;
    } else if (line.startsWith("-")) {
      hunk.lines.push({ kind: "del", text: line.slice(1), oldNo: oldNo++, newNo: null });
      file.deletions++;
    } else if (line.startsWith("\\")) {
      hunk.lines.push({ kind: "note", text: line, oldNo: null, newNo: null });
    } else {
      hunk.lines.push({ kind: "context", text: line.slice(1), oldNo: oldNo++, newNo: newNo++ });
    }
  }
  return files;
}

export interface SideBySideRow {
  left: DiffLine | null;
  right: DiffLine | null;
}

/**
 * Rows of the side-by-side view: context on both sides; a run of deletions next to
 * the run of additions that follows it, line for line, the longer run padded.
 */
export function sideBySide(hunk: Hunk): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  let dels: DiffLine[] = [];
  let adds: DiffLine[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
      rows.push({ left: dels[i] ?? null, right: adds[i] ?? null });
    }
    dels = [];
    adds = [];
  };
  for (const line of hunk.lines) {
    if (line.kind === "del") {
      if (adds.length) flush();
      dels.push(line);
    } else if (line.kind === "add") {
      adds.push(line);
    } else {
      flush();
      rows.push(line.kind === "note" ? { left: null, right: line } : { left: line, right: line });
    }
  }
  flush();
  return rows;
}
