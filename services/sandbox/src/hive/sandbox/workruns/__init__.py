"""Work Runs: event-sourced sandbox dev tasks (create, attempts, review, recovery)."""
