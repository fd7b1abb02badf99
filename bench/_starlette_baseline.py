"""The baseline of ``bench http``: a bare Starlette app on uvicorn, in the same environment as
commex, that parses a JSON POST and answers JSON, at the same path as a commex bid so the same
wrk requests reach both. Started as its own process by ``bench.http``:
``python -m uvicorn bench._starlette_baseline:app``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def bid(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(
        {"auction_id": request.path_params["auction_id"], "amount": body["amount"]},
        status_code=201,
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/auctions/{auction_id}/bids", bid, methods=["POST"]),
        Route("/v1/health", health),
    ]
)
