import { describe, expect, it } from "vitest";
import { parseUnifiedDiff, sideBySide } from "./diff";

const PATCH = `diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,4 +1,5 @@
 import os
-print("old")
+print("new")
+print("more")
 x = 1
 y = 2
@@ -10,2 +11,2 @@ def f():
-    return 1
+    return 2
 # end
diff --git a/NOTES.md b/NOTES.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/NOTES.md
@@ -0,0 +1,2 @@
+hello
+world
\\ No newline at end of file
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/a.txt b/b.txt
similarity index 100%
rename from a.txt
rename to b.txt
diff --git a/logo.png b/logo.png
Binary files a/logo.png and b/logo.png differ
`;

describe("parseUnifiedDiff", () => {
  const files = parseUnifiedDiff(PATCH);

  it("splits files with their status and paths", () => {
    expect(files.map((f) => [f.path, f.status])).toEqual([
      ["src/app.py", "modified"],
      ["NOTES.md", "added"],
      ["old.txt", "deleted"],
      ["b.txt", "renamed"],
      ["logo.png", "binary"],
    ]);
    expect(files[3]?.oldPath).toBe("a.txt");
  });

  it("numbers lines on both sides across hunks", () => {
    const app = files[0]!;
    expect(app.insertions).toBe(3);
    expect(app.deletions).toBe(2);
    expect(app.hunks).toHaveLength(2);
    const [first, second] = app.hunks;
    expect(first!.lines.map((l) => [l.kind, l.oldNo, l.newNo])).toEqual([
      ["context", 1, 1],
      ["del", 2, null],
      ["add", null, 2],
      ["add", null, 3],
      ["context", 3, 4],
      ["context", 4, 5],
    ]);
    expect(second!.lines[0]).toMatchObject({ kind: "del", oldNo: 10 });
    expect(second!.lines[1]).toMatchObject({ kind: "add", newNo: 11 });
  });

  it("keeps the no-newline marker as a note, not a content line", () => {
    const notes = files[1]!;
    expect(notes.insertions).toBe(2);
    expect(notes.hunks[0]!.lines.at(-1)).toMatchObject({ kind: "note" });
  });

  it("gives nothing for an empty patch", () => {
    expect(parseUnifiedDiff("")).toEqual([]);
  });

  it("accepts a plain unified diff without git headers", () => {
    const files = parseUnifiedDiff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n");
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ path: "x", insertions: 1, deletions: 1 });
  });
});

describe("sideBySide", () => {
  it("pairs a deletion run with the addition run after it and pads the shorter side", () => {
    const hunk = parseUnifiedDiff(PATCH)[0]!.hunks[0]!;
    const rows = sideBySide(hunk);
    expect(rows.map((r) => [r.left?.text ?? null, r.right?.text ?? null])).toEqual([
      ["import os", "import os"],
      ['print("old")', 'print("new")'],
      [null, 'print("more")'],
      ["x = 1", "x = 1"],
      ["y = 2", "y = 2"],
    ]);
  });
});
