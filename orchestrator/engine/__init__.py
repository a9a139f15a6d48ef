"""The flow engine. PURE: no I/O, no clock, no randomness; everything arrives as arguments.

``decide(catalogue, state, event, ctx) -> Outcome`` is the whole interface; the executor applies
the decisions it returns.
"""
