"""Redis-backed state: customers, identities, dedupe markers, the send ledger."""
