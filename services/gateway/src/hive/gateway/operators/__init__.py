"""Operators: login sessions (cookie + CSRF), users, password hashing, the login throttle."""
