"""``/datasets``: register once (idempotent, content-hash id), read metadata (and grids), delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from service.bodies import body_of
from service.contract import grids
from service.contract.models import ImagingDataset
from service.contract.responses import DatasetInfo
from service.deps import MediaTypeDep, StoreDep
from service.errors import not_found
from service.negotiation import openapi_body, openapi_problems, openapi_response, respond
from service.store import DatasetStore

router = APIRouter(tags=["datasets"])

IncludeQuery = Annotated[Literal["grids"] | None, Query(description="`grids`: add image_grid and pixelization_grid")]


def _info(store: DatasetStore, dataset_id: str, include: str | None) -> dict:
    meta = store.meta(dataset_id)
    if meta is None:
        raise not_found("dataset", dataset_id)
    info = {**meta.to_dict(), "image_grid": None, "pixelization_grid": None}
    if include == "grids":
        ds = store.load(dataset_id)
        if ds is None:
            raise not_found("dataset", dataset_id)
        info["image_grid"] = grids.pixel_centres(ds["mask"], ds["pixel_scales"], ds["origin"])
        info["pixelization_grid"] = grids.over_sampled_grid(
            ds["mask"], ds["pixel_scales"], ds["origin"], ds["over_sample_size_pixelization"]
        )
    return info


@router.post(
    "/datasets",
    status_code=201,
    summary="Register a dataset",
    description="Answers 201 with the metadata, or 200 if the same content is already registered.",
    openapi_extra=openapi_body(ImagingDataset),
    responses={
        201: openapi_response(DatasetInfo,
                              "Registered"),
        200: {"description": "Already registered (same content)"},
        **openapi_problems(400, 401, 406, 413, 415, 422, 503),
    },
)
def register_dataset(
    body: Annotated[ImagingDataset, Depends(body_of(ImagingDataset))],
    store: StoreDep,
    mt: MediaTypeDep,
    include: IncludeQuery = None,
) -> Response:
    meta, created = store.register(body)
    info = _info(store, meta.dataset_id, include)
    return respond(info, mt, status_code=201 if created else 200,
                   headers={"Location": f"/datasets/{meta.dataset_id}"})


@router.get(
    "/datasets/{dataset_id}",
    summary="Dataset metadata",
    responses={
        200: openapi_response(DatasetInfo,
                              "Metadata"),
        **openapi_problems(401, 404, 406, 422, 503),
    },
)
def get_dataset(dataset_id: str, store: StoreDep, mt: MediaTypeDep, include: IncludeQuery = None) -> Response:
    return respond(_info(store, dataset_id, include), mt)


@router.delete(
    "/datasets/{dataset_id}",
    status_code=204,
    summary="Delete a dataset",
    responses={204: {"description": "Deleted"}, **openapi_problems(401, 404, 422, 503)},
)
def delete_dataset(dataset_id: str, store: StoreDep) -> Response:
    if not store.delete(dataset_id):
        raise not_found("dataset", dataset_id)
    return Response(status_code=204)
