"""The model relay: OpenAI-compatible forwarding, providers, per-token rate limit, call records."""
