"""dashboard/base_url.py: the middleware that puts the backend's address in the page (the
script's own behaviour in a browser is tested in tests/browser/test_base_url_browser.py)."""

from __future__ import annotations

import asyncio
import threading

from dashboard import base_url

PAGE = b"<html><head><title>Streamlit</title></head><body></body></html>"


def _serve(path: str, status=200, content_type=b"text/html; charset=utf-8", chunks=(PAGE,),
           method="GET", headers=None):
    """One request through the middleware around a fake app; (what the app saw, what was
    sent)."""
    seen = {}

    async def app(scope, receive, send):
        seen["headers"] = dict(scope["headers"])
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type), (b"etag", b'"abc"'),
                                (b"content-length", str(sum(map(len, chunks))).encode())]})
        for i, c in enumerate(chunks):
            await send({"type": "http.response.body", "body": c,
                        "more_body": i < len(chunks) - 1})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    middleware = base_url.BaseUrlMiddleware(app, pages=["autoencoder", "vae"])
    scope = {"type": "http", "method": method, "path": path,
             "headers": headers or [(b"accept-encoding", b"gzip"), (b"if-none-match", b'"abc"'),
                                    (b"host", b"x")]}
    out = []  # a thread of its own: the browser tests leave an event loop on this one
    t = threading.Thread(target=lambda: out.append(asyncio.run(middleware(scope, receive,
                                                                          send))))
    t.start()
    t.join(timeout=10)
    assert out == [None]
    return seen, sent


def _body(sent) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_page_gets_the_script_before_its_head_ends_with_a_matching_length():
    seen, sent = _serve("/autoencoder", chunks=(PAGE[:20], PAGE[20:]))
    body = _body(sent)
    assert body == PAGE.replace(b"</head>", base_url.script(["autoencoder", "vae"]).encode()
                                + b"</head>")
    headers = dict(sent[0]["headers"])
    assert int(headers[b"content-length"]) == len(body)
    assert b"etag" not in headers  # the original file's tag would name a page without it
    # asked plain and whole: not gzipped, no 304 for a cached copy without the script
    assert b"accept-encoding" not in seen["headers"]
    assert b"if-none-match" not in seen["headers"]
    assert seen["headers"][b"host"] == b"x"


def test_the_home_page_gets_it_too():
    assert b"BACKEND_BASE_URL" in _body(_serve("/")[1])


def test_streamlits_own_routes_and_files_pass_unchanged():
    for path in ("/_stcore/health", "/_stcore/host-config", "/static/js/index.js",
                 "/media/abc.png", "/favicon.png", "/component/x/index.html",
                 "/app/static/a.txt"):
        seen, sent = _serve(path)
        assert _body(sent) == PAGE, path
        assert seen["headers"][b"accept-encoding"] == b"gzip", path


def test_other_responses_pass_unchanged():
    for kwargs in ({"status": 304, "chunks": (b"",)}, {"content_type": b"application/json"},
                   {"method": "HEAD"}, {"method": "POST"}):
        seen, sent = _serve("/vae", **kwargs)
        assert _body(sent) == kwargs.get("chunks", (PAGE,))[0], kwargs
        assert dict(sent[0]["headers"])[b"etag"] == b'"abc"', kwargs


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LATENT_LAB_BASE_URL_HINT", "0")
    assert _body(_serve("/autoencoder")[1]) == PAGE


def test_the_script_names_the_apps_pages_but_the_home_page():
    from dashboard.nav import existing_pages
    middleware = base_url.BaseUrlMiddleware(None)
    paths = sorted(p.url_path for p in existing_pages() if p.url_path)
    assert middleware.extra == base_url.script(paths).encode()
    assert '"latent-variable-models"' in base_url.script(paths) and '""' not in \
        base_url.script(paths)
