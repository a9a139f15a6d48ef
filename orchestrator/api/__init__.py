"""The HTTP API: health, metrics and provider webhooks."""
