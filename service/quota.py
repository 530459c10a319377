"""Per-key admission: how many unfinished jobs, and how many evaluations (summed batch sizes), one key may have.

A key is an API key (stored only as a short hash), or ``anonymous`` when the service is open. Each key has a
sorted set of its jobs (job id -> batch size). Admission is one Lua script, so concurrent requests of one key
cannot overshoot: it drops the jobs that have ended (their RQ status is terminal, or their hash expired), counts
the rest, and adds the new job only if both limits still hold. The same script first checks the queue's length
(``limits.max_queued_jobs``: jobs in the RQ queue plus those waiting for their key's turn), and may carry the
commands that enqueue the job, run only once it is admitted, so a request costs one round trip for both checks and
the enqueue. Fair sharing of the workers themselves is RQ's rate limit
(``limits.per_key_concurrency``, see :mod:`service.queue`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from service.config import Limits
from service.contract.names import Names

ANONYMOUS = "anonymous"

# Jobs waiting for a worker (see QueueKeys): those in the RQ queue list plus those in the waiting sets of this
# namespace's rate-limit keys. Shared by both scripts below.
_QUEUED_JOBS = """
local function queued_jobs(queue, rl_keys, rl_prefix, waiting_prefix, waiting_suffix)
  local n = redis.call('LLEN', queue)
  for _, key in ipairs(redis.call('SMEMBERS', rl_keys)) do
    if string.sub(key, 1, #rl_prefix) == rl_prefix then
      n = n + redis.call('ZCARD', waiting_prefix .. key .. waiting_suffix)
    end
  end
  return n
end
"""

# KEYS: RQ queue list, RQ's set of rate-limit keys. ARGV: rate-limit key prefix, waiting-set key prefix and suffix
_QUEUED = _QUEUED_JOBS + "return queued_jobs(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])\n"

# KEYS: owner jobs zset, owner reserved hash, RQ queue list, RQ's set of rate-limit keys
# ARGV: job key prefix, now, max jobs, max evaluations, job id, evaluations, key ttl, reservation grace,
#       max queued jobs, rate-limit key prefix of this namespace, rate-limit waiting-set key prefix and suffix,
#       then the commands to run once admitted, each as its number of words followed by the words
# Returns {status, jobs, evaluations}: status 1 = admitted, 0 = over the key's limits, -1 = the queue is full.
_ADMIT = _QUEUED_JOBS + """
if queued_jobs(KEYS[3], KEYS[4], ARGV[10], ARGV[11], ARGV[12]) >= tonumber(ARGV[9]) then
  return {-1, 0, 0}
end
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
local i = 13
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return {1, jobs + 1, evals + tonumber(ARGV[6])}
"""


def owner_of(api_key: str | None) -> str:
    """The accounting identity of a request: a short hash of its API key (never the key), or ``anonymous``."""
    if not api_key:
        return ANONYMOUS
    return "k" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Admission:
    """The outcome of :meth:`Quota.admit`: whether the job was admitted and the key's usage counted.

    ``queue_full``: refused because too many jobs wait for a worker (the key's usage is then not counted).
    """

    admitted: bool
    jobs: int
    evaluations: int
    queue_full: bool = False


@dataclass(frozen=True)
class QueueKeys:
    """Where :class:`Quota` counts the jobs that wait for a worker: the RQ queue list, RQ's set of rate-limit
    keys, the prefix of this namespace's rate-limit keys, and the key of a rate-limit key's waiting set as
    ``waiting_prefix + key + waiting_suffix``."""

    queue: str
    rate_limit_keys: str
    rate_limit_prefix: str
    waiting_prefix: str
    waiting_suffix: str


class Quota:
    """Per-key limits of one namespace. ``aredis`` (an asyncio client of the same Redis) serves the ``*_async``
    methods of the API's event loop."""

    def __init__(self, redis: Redis, aredis: AsyncRedis, names: Names, limits: Limits, job_key_prefix: str,
                 key_ttl_s: int, queue_keys: QueueKeys):
        self.redis = redis
        self.aredis = aredis
        self.queue_keys = queue_keys
        self.names = names
        self.limits = limits
        self.job_key_prefix = job_key_prefix
        self.key_ttl_s = key_ttl_s
        self._admit = redis.register_script(_ADMIT)
        self._admit_async = aredis.register_script(_ADMIT)
        self._queued = redis.register_script(_QUEUED)

    def queued(self) -> int:
        """Jobs waiting for a worker: those in the queue and those waiting for their key's turn to enter it."""
        q = self.queue_keys
        return int(self._queued(keys=[q.queue, q.rate_limit_keys],
                                args=[q.rate_limit_prefix, q.waiting_prefix, q.waiting_suffix]))

    def admit(self, owner: str, job_id: str, evaluations: int, then: Sequence[Sequence[Any]] = ()) -> Admission:
        """Reserve a place for ``job_id`` (``evaluations`` = its batch size) if the queue has room and the key's
        limits allow it; then, in the same script, run the Redis commands ``then`` (each a sequence of words, as
        ``("RPUSH", key, value)``). Nothing runs between the checks and those commands, as in a transaction."""
        return _admission(self._admit(**self._admit_call(owner, job_id, evaluations, then)))

    async def admit_async(self, owner: str, job_id: str, evaluations: int,
                          then: Sequence[Sequence[Any]] = ()) -> Admission:
        """:meth:`admit` on the asyncio client."""
        return _admission(await self._admit_async(**self._admit_call(owner, job_id, evaluations, then)))

    def _admit_call(self, owner: str, job_id: str, evaluations: int,
                    then: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
        q = self.queue_keys
        words: list[Any] = []
        for command in then:
            words += (len(command), *command)
        return {"keys": [self.names.owner_jobs(owner), self.names.owner_reserved(owner), q.queue, q.rate_limit_keys],
                "args": [self.job_key_prefix, time.time(), self.limits.per_key_max_jobs,
                         self.limits.per_key_max_evaluations, job_id, max(1, evaluations), self.key_ttl_s, 60,
                         self.limits.max_queued_jobs, q.rate_limit_prefix, q.waiting_prefix, q.waiting_suffix,
                         *words]}

    def release(self, owner: str, job_id: str) -> None:
        """Give a reservation back (the job could not be enqueued)."""
        self._release(self.redis.pipeline(transaction=False), owner, job_id).execute()

    async def release_async(self, owner: str, job_id: str) -> None:
        """:meth:`release` on the asyncio client."""
        await self._release(self.aredis.pipeline(transaction=False), owner, job_id).execute()

    def _release(self, pipe: Any, owner: str, job_id: str) -> Any:
        pipe.zrem(self.names.owner_jobs(owner), job_id)
        pipe.hdel(self.names.owner_reserved(owner), job_id)
        return pipe


def _admission(reply: Sequence[Any]) -> Admission:
    status, jobs, evals = reply
    return Admission(status == 1, int(jobs), int(evals), queue_full=status == -1)
