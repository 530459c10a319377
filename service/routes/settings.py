"""``GET /settings``: the server's current defaults for the request ``settings``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.contract.models import ResolvedSettings
from service.deps import ConfigDep, MediaTypeDep
from service.negotiation import openapi_problems, openapi_response, respond

router = APIRouter(tags=["settings"])


@router.get(
    "/settings",
    summary="Server defaults of the inversion settings",
    description="Fields omitted from a request's `settings` take these values.",
    responses={200: openapi_response(ResolvedSettings, "Defaults"), **openapi_problems(401, 406)},
)
def get_settings(config: ConfigDep, mt: MediaTypeDep) -> Response:
    return respond(ResolvedSettings(**config.settings.model_dump()).model_dump(), mt)
