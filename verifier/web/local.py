"""The page's check in the browser, and its use offline (issue 17): what the page carries for it,
the service worker at /sw.js, the web app manifest and its icons.

The page checks the token itself (static/local.js, with the verifier of static/check/): it holds
the trust anchor, embedded in the page from the home's anchor.json (a same-origin GET would
cost a round trip and prove nothing more: the page and its scripts come from the same server),
and fetches the registry bundle and every agency's status list, all of them, whatever permit
is checked. The worker keeps the page and its files for use offline; the page keeps the
documents it accepted (Cache Storage, never a document older than the one it holds).
"""

from __future__ import annotations

import hashlib
import io
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, url_for
from PIL import Image

from keys.encoding import dumps_canonical
from permits.i18n import N_
from verifier.state import TrustStore
from verifier.web import icon

blueprint = Blueprint("local", __name__, template_folder="templates")

STATIC = Path(__file__).with_name("static")
# What the page needs to check a permit, in the order the browser needs it: kept by the worker
# when it installs. Other static files (the camera's decoder) are kept when first used.
MODULES = ("local.js", "check/verify.js", "check/encoding.js", "check/keys.js", "check/jws.js", "check/registry.js",
           "check/status.js", "check/text.js", "check/inflate.js", "check/dictionary.js", "check/permit.js")
SHELL = ("page.css", "verify.js", *MODULES)
# The header's red (static/page.css), for the phone's status bar and the installed app.
THEME_COLOUR = "#9b1c1c"
BACKGROUND_COLOUR = "#f6f6f3"
ICON_SIZES = (192, 512)
PAGE = "/v"  # the page a QR code opens (also served at /)

# The page's words about where a verdict came from (page.py adds them to the page's texts).
LOCAL_SENTENCE: dict[str, str] = {
    # Small print under a verdict: checked here, with documents of this age (dd/mm/yyyy HH:MM, city time).
    "checked_here": N_("Checked on this device · data updated at {time}"),
    "checked_by_server": N_("Checked by the server"),
}


def page_context(store: TrustStore) -> dict[str, Any]:
    """What the page carries for its own check: the anchor (as the home's anchor.json says it),
    the agencies whose lists it fetches at once (the registry it opens may name more), and the
    module files to fetch in parallel with the page's other files."""
    registry = store.snapshot.registry
    agencies = sorted(registry.registry.agencies) if registry is not None else []
    anchor = dumps_canonical(store.home.anchor().to_dict()).decode()
    return {"documents": {"anchor": anchor, "agencies": agencies}, "modules": MODULES, "theme_colour": THEME_COLOUR}


@cache
def _shell_version() -> str:
    """A digest of the files the worker keeps: a new release makes a new worker, which keeps the new files."""
    digest = hashlib.sha256()
    for name in SHELL:
        digest.update(name.encode() + b"\0" + (STATIC / name).read_bytes() + b"\0")
    digest.update(Path(__file__).with_name("templates").joinpath("sw.js").read_bytes())
    return digest.hexdigest()[:16]


@blueprint.get("/sw.js")
def service_worker() -> Response:
    shell = [PAGE, *(url_for("page.static", filename=name) for name in SHELL),
             url_for("local.manifest"), *(url_for("local.app_icon", size=size) for size in ICON_SIZES)]
    body = render_template("sw.js", version=_shell_version(), shell=shell)
    response = Response(body, mimetype="text/javascript")
    # Browsers look for a new worker on each visit at most once a day whatever this says; no-cache
    # makes each look reach the server.
    response.headers["Cache-Control"] = "no-cache"
    return response


# A short path: one of 20 characters would be logged as [redacted], as token-like (serve.py).
@blueprint.get("/app.webmanifest")
def manifest() -> Response:
    document = {
        "name": "Kiểm tra giấy phép điện tử · Check an electronic permit",
        "short_name": "Kiểm tra GP",
        "description": "Kiểm tra giấy phép điện tử, cả khi không có mạng. Check an electronic permit, offline too.",
        "lang": "vi",
        "start_url": PAGE,
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [{"src": url_for("local.app_icon", size=size), "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
                  for size in ICON_SIZES],
    }
    response = Response(dumps_canonical(document), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@cache
def icon_png(size: int) -> bytes:
    """The page's icon (verifier/web/icon.py) as a `size`-pixel PNG, for the home screen: in 64
    colours (two flat ones and their smoothed edges), a fifth of the bytes of full colour."""
    out = io.BytesIO()
    icon.draw(size).quantize(64, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return out.getvalue()


@blueprint.get("/icons/icon-<int:size>.png")
def app_icon(size: int) -> Response:
    if size not in ICON_SIZES:
        abort(404)
    response = Response(icon_png(size), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
