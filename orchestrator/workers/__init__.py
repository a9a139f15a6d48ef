"""The faststream subscribers: thin loops of decode, load, decide or act, publish, commit."""

WORKERS = ("inbound", "events", "decision", "dispatcher", "status", "router", "ledger")
"""Every worker a process can run, in start order (`continuum worker --only`)."""
