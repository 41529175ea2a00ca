"""The HTTP service: OpenAI-compatible chat completions, batch jobs, auth, limits and metrics."""
