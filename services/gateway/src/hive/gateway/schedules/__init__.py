"""Schedules: recurring agent runs fired by one leader gateway (a fenced lease row)."""
