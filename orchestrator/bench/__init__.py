"""``continuum bench``: the benchmark of issue 8, black box, against real servers.

The harness (:mod:`.harness`) starts the embedded servers on free ports (or uses the ones the
environment names), then for each scenario a fresh set of worker processes on their own topic
prefix, so that one scenario's backlog never reaches the next. Each scenario is a module
(:mod:`.limits`, :mod:`.pipeline`, :mod:`.e2e`, :mod:`.latency`); :mod:`.cost` turns the
server counters and ``/proc`` into cost per message, and :mod:`.report` prints the table and
writes ``bench.json`` and the latency histogram.

Example:
    $ continuum bench --quick
"""
