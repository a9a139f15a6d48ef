"""The one place a Redis client is built: a single server, or a Redis Cluster.

``CONTINUUM_REDIS_URL`` names a cluster by its scheme: ``redis+cluster://host:port`` (or
``rediss+cluster://`` for TLS) gives a :class:`redis.asyncio.RedisCluster` that discovers the
other nodes from that one; ``redis://`` and ``rediss://`` give a plain
:class:`redis.asyncio.Redis`. Everything the service does in Redis works on both: the keys one
script or transaction touches share a hash tag (:mod:`orchestrator.state.keys`).

A cluster client maps the cluster on its first command, and ``pubsub()`` needs that map: the
service pings the client first.

Example::

    redis = make_redis("redis+cluster://127.0.0.1:7000")
    await redis.ping()
    await redis.aclose()
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis, RedisCluster

RedisClient = Redis | RedisCluster
"""Either client; the state layer takes both."""

_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in _CLUSTER_SCHEMES


def make_redis(url: str, **options: Any) -> RedisClient:
    """A client for ``url``; ``options`` go to ``from_url`` (e.g. ``socket_connect_timeout``).

    >>> type(make_redis("redis://127.0.0.1:1/0")).__name__
    'Redis'
    >>> type(make_redis("redis+cluster://127.0.0.1:1")).__name__
    'RedisCluster'
    """
    if is_cluster_url(url):
        scheme, _, rest = url.partition("://")
        return RedisCluster.from_url(f"{_CLUSTER_SCHEMES[scheme.lower()]}://{rest}", **options)
    return Redis.from_url(url, **options)
