"""The faststream subscribers: thin loops of decode, load, decide or act, publish, commit."""
