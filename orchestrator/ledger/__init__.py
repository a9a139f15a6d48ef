"""The delivery and audit ledger: records, the PostgreSQL store, query and export."""
