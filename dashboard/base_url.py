"""Faster first visits of every page but the home page: the backend's address, in the page.

The HTML page Streamlit serves for every URL of the app starts its frontend, which must find
the server: it asks `<the page's URL>/_stcore/health` and, when that fails, the URL one path
segment up. On `/autoencoder` the first guess is `/autoencoder/_stcore/health` (a 404), and
only the second, `/_stcore/health`, connects: a first visit of any page but the home page waits
for one failed round trip and the frontend's turn to the next guess (~0.1 s in headless
Chromium on this machine). This ASGI middleware adds one script to the page that sets
`window.__streamlit.BACKEND_BASE_URL` (the frontend's setting for where its server is, read
once as it starts) to the page's own address minus the page's path when that path is one of
the app's pages: `/autoencoder` -> `/`, `/lab/autoencoder` -> `/lab/` behind a proxy that
serves the app under a prefix. An address that is not one of the app's pages is left to
Streamlit's own guesses, and a host that sets `window.__streamlit` itself keeps its values.

Measured with cold loads side by side (fresh browser context each, warm servers, four rounds,
medians; /tmp scripts, same timing as benchmarks/browser_latency.py's "cold"): autoencoder
2.00 -> 1.91 s, GAN 1.96 -> 1.86, VAE 1.77 -> 1.69, latent space 1.85 -> 1.79. Also tried:
`<link rel="modulepreload">` for the ~70 lazily loaded chunks the pages' elements fetch (Vega,
the slider, ...) made every page slower (autoencoder 2.14 s): on two cores, compiling them
early competes with the main bundle and the first messages for the same CPU.

LATENT_LAB_BASE_URL_HINT=0 serves Streamlit's page unchanged (for side-by-side benchmarks).
"""

from __future__ import annotations

import json
import os
import re

# Requests that are never a page: Streamlit's own routes and files.
_NOT_PAGES = re.compile(r"/(_stcore|static|media|component|app/static)(/|$)|\.\w+$")


def script(pages: list[str]) -> str:
    """The script that sets the backend's base URL from the page's address; pages: the app's
    URL paths other than the home page's ("autoencoder", ...)."""
    return ("<script>(() => {"
            f"const pages = {json.dumps(sorted(pages))};"
            "const path = location.pathname.replace(/\\/+$/, '');"
            "const last = path.slice(path.lastIndexOf('/') + 1);"
            "if (!pages.includes(last)) return;"
            "const base = location.origin + path.slice(0, path.length - last.length);"
            "window.__streamlit = Object.assign({BACKEND_BASE_URL: base}, window.__streamlit);"
            "})()</script>")


class BaseUrlMiddleware:
    """ASGI middleware: adds `script` before </head> in the HTML served for a page's URL."""

    def __init__(self, app, pages: list[str] | None = None):
        self.app = app
        if pages is None:
            from dashboard.nav import existing_pages
            pages = [p.url_path for p in existing_pages() if p.url_path]
        self.extra = script(pages).encode()
        self.enabled = os.environ.get("LATENT_LAB_BASE_URL_HINT", "1") != "0"

    async def __call__(self, scope, receive, send):
        if (not self.enabled or scope["type"] != "http" or scope.get("method") != "GET"
                or _NOT_PAGES.search(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        # the page plain and whole: not gzipped, and not a 304 that would keep a copy without
        # the script
        drop = {b"accept-encoding", b"if-none-match", b"if-modified-since"}
        scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", [])
                                      if k.lower() not in drop]}
        start: dict | None = None
        body: list[bytes] = []

        async def edit(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if (message.get("status") == 200
                        and headers.get(b"content-type", b"").startswith(b"text/html")):
                    start = message  # held until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                html = b"".join(body).replace(b"</head>", self.extra + b"</head>", 1)
                headers = [(k, v) for k, v in start.get("headers", [])
                           if k.lower() not in (b"content-length", b"etag")]
                headers.append((b"content-length", str(len(html)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": html})
                return
            await send(message)

        await self.app(scope, receive, edit)
