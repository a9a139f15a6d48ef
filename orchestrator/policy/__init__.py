"""Central contact policy: consent, opt-out keywords, quiet hours, caps, dedupe, WhatsApp window.

PURE, like the engine: rules take state and a candidate send and return a verdict. The engine
applies them when it decides; the dispatcher applies them again at send time, with counters
kept atomically in Redis.
"""
