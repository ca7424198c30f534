"use client";

import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useState, type FormEvent } from "react";
import { ProblemAlert } from "@/components/problem-alert";
import { Button } from "@/components/ui/button";
import { api, unwrap } from "@/lib/api/client";

function LoginForm() {
  const router = useRouter();
  const next = useSearchParams().get("next");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.POST("/api/auth/login", {
          body: { username: String(form.get("username")), password: String(form.get("password")) },
        }),
      );
      // Only same-site paths: `next` comes from the URL and must not send the operator elsewhere.
      router.replace(next && next.startsWith("/") && !next.startsWith("//") ? next : "/projects");
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="flex w-80 flex-col gap-3 rounded-lg border border-line bg-panel p-6" aria-label="Log in">
      <h1 className="text-lg font-semibold">OpenHive</h1>
      <label className="flex flex-col gap-1">
        Username
        <input name="username" autoComplete="username" required autoFocus className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <label className="flex flex-col gap-1">
        Password
        <input name="password" type="password" autoComplete="current-password" required className="rounded-md border border-line bg-bg px-2 py-1.5" />
      </label>
      <ProblemAlert error={error} />
      <Button type="submit" variant="primary" disabled={busy}>
        {busy ? "Logging in…" : "Log in"}
      </Button>
    </form>
  );
}

export default function LoginPage() {
  return (
    <main className="flex min-h-screen items-center justify-center">
      <Suspense>
        <LoginForm />
      </Suspense>
    </main>
  );
}
