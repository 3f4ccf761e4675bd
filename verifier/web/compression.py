"""Compressed answers for what a browser fetches to check a permit: the page, its files (scripts,
styles, the worker, the manifest) and the documents (registry bundle, status lists), when the
browser asks for it (Accept-Encoding). A fleet's nginx compresses too (deploy/nginx.conf.template);
a lone `permit serve` needs it here, since a phone on a slow connection pays for every byte.

Verdicts are left as they are: they are the hot path of agencies' systems on fast links (nginx
still compresses them for a fleet), and a verdict is small. Flask-Compress chooses the encoding,
sets Vary and keeps ETags and conditional requests right; it is called for these endpoints only.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_compress import Compress

# "static": the application's own route to static/ (the page's files), which answers before the
# page blueprint's route to the same folder.
ENDPOINTS = frozenset({"page.verify_page", "static", "page.static", "local.script", "local.service_worker", "local.manifest",
                       "api.registry", "api.status_list"})
SETTINGS = {
    "COMPRESS_REGISTER": False,
    "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/javascript", "application/json", "application/manifest+json",
                           "application/statuslist+jwt"],
    # Brotli where the browser offers it (HTTPS), else gzip; static files are sent as they are
    # read (streamed), so they need a streaming encoding of the two as well.
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_LEVEL": 9,
    "COMPRESS_BR_LEVEL": 11,
    "COMPRESS_STREAMING_ENDPOINT_CONDITIONAL": ["static", "page.static"],
}


def init_app(app: Flask) -> None:
    for name, value in SETTINGS.items():
        app.config.setdefault(name, value)
    compress = Compress(app)

    @app.after_request
    def _compressed(response: Response) -> Response:
        if request.endpoint in ENDPOINTS and request.method in ("GET", "HEAD"):
            return compress.after_request(response)
        return response
