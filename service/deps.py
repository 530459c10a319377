"""FastAPI dependencies, declared once as ``Annotated`` aliases (the app keeps its parts in ``app.state``).

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency in its thread pool, and a
thread hop per dependency costs more than what they do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis import Redis

from service.config import ServerConfig
from service.contract.names import Names
from service.negotiation import response_media_type
from service.queue import JobQueue
from service.store import DatasetStore


async def _config(request: Request) -> ServerConfig:
    return request.app.state.config


async def _redis(request: Request) -> Redis:
    return request.app.state.redis


async def _names(request: Request) -> Names:
    return request.app.state.names


async def _store(request: Request) -> DatasetStore:
    return request.app.state.store


async def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


ConfigDep = Annotated[ServerConfig, Depends(_config)]
RedisDep = Annotated[Redis, Depends(_redis)]
NamesDep = Annotated[Names, Depends(_names)]
StoreDep = Annotated[DatasetStore, Depends(_store)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
MediaTypeDep = Annotated[str, Depends(response_media_type)]
