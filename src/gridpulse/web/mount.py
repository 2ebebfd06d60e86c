"""install_dashboard(app): the dashboard shell at `/` and its files under `/static/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gridpulse import __version__

__all__ = ["STATIC_DIR", "install_dashboard"]

#: The packaged files: index.html, css/, js/ (ES modules, no build step) and vendor/uplot/.
STATIC_DIR = Path(__file__).parent / "static"


class _Revalidated(StaticFiles):
    """Static files the browser revalidates on every load (a 304 is cheap), so an upgraded
    server never runs next to a stale module cached from the previous version."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


@cache
def _shell(auth: bool) -> str:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace("{{version}}", __version__).replace("{{auth}}", "token" if auth else "none")


def install_dashboard(app: FastAPI, *, auth: bool) -> None:
    """Serve the dashboard on `app`: the shell at `/`, its files under `/static/`.

    Call it before any other router that claims `/`. With `auth` the page asks for a bearer
    token before its first request (the server has tokens configured).

    Args:
        app: the gridpulse API app.
        auth: whether the API needs a bearer token.
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def dashboard() -> HTMLResponse:
        return HTMLResponse(_shell(auth), headers={"Cache-Control": "no-cache"})

    app.include_router(router)
    app.mount("/static", _Revalidated(directory=STATIC_DIR), name="static")
