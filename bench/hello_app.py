"""Bare uvicorn + Starlette JSON endpoint: the ceiling for any Python ASGI server here.

Target 2 compares opengp's job-status GET with this app, served the same way as
``opengp serve`` serves itself (one uvicorn process, uvloop, httptools, no access log),
so the ratio shows how much of the framework budget opengp's status path spends.

Run: python bench/hello_app.py --port 8001   (GET /hello -> {"hello": "world"})
"""
from __future__ import annotations

import argparse

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"hello": "world"})


app = Starlette(routes=[Route("/hello", hello)])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                access_log=False, loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
