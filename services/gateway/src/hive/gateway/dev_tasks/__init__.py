"""Dev tasks: project-scoped Work Runs proxied to the sandbox, workspace seeding and apply-back."""
