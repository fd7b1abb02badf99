"""The API's documentation pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

FastAPI's own pages load both from a CDN and start Swagger UI with an inline script, which the
server's Content-Security-Policy (scripts from this origin only) blocks, and which cannot load
offline anyway. Here the assets come from the ``fastapi-offline`` package, which ships Swagger
UI's and ReDoc's files, and Swagger UI starts from a static file of ours (``apidocs.js``), so
neither page needs anything from elsewhere, nor an inline script.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the two documentation pages and their assets on ``app`` (which must be made with
    ``docs_url=None, redoc_url=None``, so FastAPI's CDN pages are not there instead)."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="apidocs")
    app.include_router(router)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """The API, browsable and callable with a bearer token (Swagger UI)."""
    return _page(
        "commex API · Swagger UI",
        f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">\n',
        '<div id="swagger-ui" data-openapi-url="/openapi.json"></div>\n'
        f'<script src="{ASSETS}/swagger-ui-bundle.js"></script>\n'
        '<script src="/static/apidocs.js"></script>\n',
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """The API as a reference to read (ReDoc)."""
    return _page(
        "commex API · ReDoc",
        "",
        # No search box: ReDoc indexes in a worker made from a blob: URL, which the policy's
        # default-src 'self' refuses; the side menu lists every operation all the same.
        '<redoc spec-url="/openapi.json" disable-search></redoc>\n'
        f'<script src="{ASSETS}/redoc.standalone.js"></script>\n',
    )
