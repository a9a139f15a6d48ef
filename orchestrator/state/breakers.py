"""The providers' circuit breakers in Redis, shared by every dispatcher process.

One hash per provider, ``ct:breaker:{<channel_type>}`` (:func:`keys.breaker_key`), with the
fields of :class:`~orchestrator.delivery.breaker.Breaker`. Two Lua scripts, each on one key,
are :func:`~orchestrator.delivery.breaker.view` and
:func:`~orchestrator.delivery.breaker.record` line for line, so that concurrent dispatchers
move a breaker atomically (``tests/integration/test_breakers.py`` runs the same sequences
through the scripts and the pure functions and compares them).

Neither costs a round trip of its own: :func:`queue_views` goes in the pipeline that loads the
batch's customer states, :func:`queue_record` in the one that settles its sends (``EVAL``, not
``EVALSHA``: redis-py's cluster pipeline refuses the latter; two short scripts a batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.delivery.breaker import Result, State
from orchestrator.delivery.failover import View
from orchestrator.settings import BreakerSettings
from orchestrator.state import keys

# KEYS: the breaker. ARGV: now ms, sends wanted, cool-down ms, probe slots.
# Returns {state, since ms, sends let through, 1 if it half-opened now}.
VIEW = """
local h = redis.call('HMGET', KEYS[1], 'state', 'since', 'probes')
local state = h[1] or 'closed'
local since = tonumber(h[2]) or 0
local probes = tonumber(h[3]) or 0
local now, want = tonumber(ARGV[1]), tonumber(ARGV[2])
local cool, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local moved = 0
if state == 'open' and now >= since + cool then
  state, since, probes, moved = 'half_open', now, 0, 1
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'state', state, 'since', since, 'window', 0, 'calls', 0,
    'failures', 0, 'consecutive', 0, 'probes', 0)
elseif state == 'half_open' and probes >= cap and now >= since + cool then
  since, probes = now, 0
  redis.call('HSET', KEYS[1], 'since', since, 'probes', 0)
end
local slots = want
if state == 'open' then
  slots = 0
elseif state == 'half_open' then
  slots = math.max(0, math.min(want, cap - probes))
  if slots > 0 then redis.call('HINCRBY', KEYS[1], 'probes', slots) end
end
return {state, tostring(since), slots, moved}
"""

# KEYS: the breaker. ARGV: now ms, window ms, min calls, error rate, consecutive failures,
# then the results in order. Returns {state after, the states it moved to...}.
RECORD = """
local f = redis.call('HMGET', KEYS[1], 'state', 'since', 'window', 'calls', 'failures',
  'consecutive', 'probes')
local state = f[1] or 'closed'
local since, window = tonumber(f[2]) or 0, tonumber(f[3]) or 0
local calls, failures = tonumber(f[4]) or 0, tonumber(f[5]) or 0
local consecutive, probes = tonumber(f[6]) or 0, tonumber(f[7]) or 0
local now, span, min_calls = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {''}
for i = 6, #ARGV do
  local r = ARGV[i]
  if state == 'half_open' then
    if r == 'success' then state, window = 'closed', now else state, window = 'open', 0 end
    since, calls, failures, consecutive, probes = now, 0, 0, 0, 0
    out[#out + 1] = state
  elseif state == 'closed' then
    if calls == 0 or now >= window + span then window, calls, failures = now, 0, 0 end
    calls = calls + 1
    if r ~= 'success' then failures = failures + 1 end
    if r == 'success' then
      consecutive = 0
    elseif r == 'connection' then
      consecutive = consecutive + 1
    end
    if (calls >= min_calls and failures >= rate * calls) or consecutive >= limit then
      state, since, window, calls, failures, consecutive, probes = 'open', now, 0, 0, 0, 0, 0
      out[#out + 1] = 'open'
    end
  end
end
redis.call('HSET', KEYS[1], 'state', state, 'since', since, 'window', window, 'calls', calls,
  'failures', failures, 'consecutive', consecutive, 'probes', probes)
out[1] = state
return out
"""


@dataclass(frozen=True, slots=True)
class Seen:
    """One breaker as a read or a record found it: what it allows, and the states it moved to
    (the transitions this process made, to count)."""

    view: View
    moved: tuple[State, ...]


def queue_views(
    pipe: Any, wants: Mapping[str, int], now_ms: int, settings: BreakerSettings
) -> None:
    """Queue on ``pipe`` one view script per provider of ``wants`` (provider -> the sends this
    batch may make with it), in that order; read the answers with :func:`read_views`."""
    cool = int(settings.cool_down_s * 1000)
    for provider, want in wants.items():
        pipe.eval(VIEW, 1, keys.breaker_key(provider), now_ms, want, cool, settings.probes)


def read_views(
    wants: Mapping[str, int], raw: Sequence[Any], settings: BreakerSettings
) -> dict[str, Seen]:
    """The breakers :func:`queue_views` read, by provider."""
    cool = int(settings.cool_down_s * 1000)
    seen: dict[str, Seen] = {}
    for provider, answer in zip(wants, raw, strict=True):
        state, since, slots, moved = answer
        name = _state(state)
        since_ms = int(_text(since))
        reopens = since_ms + cool if name != "closed" else None
        seen[provider] = Seen(View(name, int(slots), reopens), ("half_open",) if int(moved) else ())
    return seen


def queue_record(
    pipe: Any, results: Mapping[str, Sequence[Result]], now_ms: int, settings: BreakerSettings
) -> None:
    """Queue on ``pipe`` one record script per provider of ``results`` (provider -> its
    calls' results, in the order they ended); read the answers with :func:`read_record`."""
    window = int(settings.window_s * 1000)
    for provider, done in results.items():
        pipe.eval(
            RECORD,
            1,
            keys.breaker_key(provider),
            now_ms,
            window,
            settings.min_calls,
            repr(settings.error_rate),
            settings.consecutive_failures,
            *done,
        )


def read_record(
    results: Mapping[str, Sequence[Result]], raw: Sequence[Any]
) -> dict[str, tuple[State, tuple[State, ...]]]:
    """Each provider's state after :func:`queue_record`, and the states it moved to."""
    return {
        provider: (_state(answer[0]), tuple(_state(m) for m in answer[1:]))
        for provider, answer in zip(results, raw, strict=True)
    }


def _state(raw: Any) -> State:
    name = _text(raw)
    if name == "open":
        return "open"
    return "half_open" if name == "half_open" else "closed"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
