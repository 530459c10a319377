"""Per-key admission: how many unfinished jobs, and how many evaluations (summed batch sizes), one key may have.

A key is an API key (stored only as a short hash), or ``anonymous`` when the service is open. Each key has a
sorted set of its jobs (job id -> batch size). Admission is one Lua script, so concurrent requests of one key
cannot overshoot: it drops the jobs that have ended (their RQ status is terminal, or their hash expired), counts
the rest, and adds the new job only if both limits still hold. Fair sharing of the workers themselves is RQ's
rate limit (``limits.per_key_concurrency``, see :mod:`service.queue`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from redis import Redis

from service.config import Limits
from service.contract.names import Names

ANONYMOUS = "anonymous"

# KEYS: owner jobs zset, owner reserved hash
# ARGV: job key prefix, now, max jobs, max evaluations, job id, evaluations, key ttl, reservation grace
_ADMIT = """
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local jobs, evals = 0, 0
local now, grace = tonumber(ARGV[2]), tonumber(ARGV[8])
for i = 1, #members, 2 do
  local id = members[i]
  local status = redis.call('HGET', ARGV[1] .. id, 'status')
  local active
  if status then
    active = status ~= 'finished' and status ~= 'failed' and status ~= 'stopped' and status ~= 'canceled'
  else
    local reserved = tonumber(redis.call('HGET', KEYS[2], id) or '0')
    active = reserved > now - grace
  end
  if active then
    jobs = jobs + 1
    evals = evals + tonumber(members[i + 1])
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
if jobs + 1 > tonumber(ARGV[3]) or evals + tonumber(ARGV[6]) > tonumber(ARGV[4]) then
  return {0, jobs, evals}
end
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[5], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {1, jobs + 1, evals + tonumber(ARGV[6])}
"""


def owner_of(api_key: str | None) -> str:
    """The accounting identity of a request: a short hash of its API key (never the key), or ``anonymous``."""
    if not api_key:
        return ANONYMOUS
    return "k" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Admission:
    """The outcome of :meth:`Quota.admit`: whether the job was admitted and the key's usage counted."""

    admitted: bool
    jobs: int
    evaluations: int


class Quota:
    """Per-key limits of one namespace."""

    def __init__(self, redis: Redis, names: Names, limits: Limits, job_key_prefix: str, key_ttl_s: int):
        self.redis = redis
        self.names = names
        self.limits = limits
        self.job_key_prefix = job_key_prefix
        self.key_ttl_s = key_ttl_s
        self._admit = redis.register_script(_ADMIT)

    def admit(self, owner: str, job_id: str, evaluations: int) -> Admission:
        """Reserve a place for ``job_id`` (``evaluations`` = its batch size) if the key's limits allow it."""
        ok, jobs, evals = self._admit(
            keys=[self.names.owner_jobs(owner), self.names.owner_reserved(owner)],
            args=[self.job_key_prefix, time.time(), self.limits.per_key_max_jobs,
                  self.limits.per_key_max_evaluations, job_id, max(1, evaluations), self.key_ttl_s, 60],
        )
        return Admission(bool(ok), int(jobs), int(evals))

    def release(self, owner: str, job_id: str) -> None:
        """Give a reservation back (the job could not be enqueued)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.names.owner_jobs(owner), job_id)
        pipe.hdel(self.names.owner_reserved(owner), job_id)
        pipe.execute()
