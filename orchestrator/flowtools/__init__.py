"""Tools for the people who write flows: test, lint, graph, diff, simulate, replay.

All of them run the pure engine; none needs a server.
"""
