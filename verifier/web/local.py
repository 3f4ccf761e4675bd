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
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Any

import rjsmin
from flask import Blueprint, Response, abort, render_template, request, url_for
from PIL import Image

from keys.encoding import dumps_canonical
from permits.i18n import N_
from verifier.state import TrustStore
from verifier.web import icon

blueprint = Blueprint("local", __name__, template_folder="templates")

STATIC = Path(__file__).with_name("static")
# The page's check: static/local.js and the modules it imports (static/check/), sent as one file
# (see bundle): the files of the page shell the worker keeps when it installs. Other static files
# (the camera's decoder) are kept when first used.
ENTRY = "local.js"
BUNDLE = "/local.js"
SHELL_FILES = ("page.css", "verify.js", "scan.css", "scan.js")
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
    address of its script."""
    registry = store.snapshot.registry
    agencies = sorted(registry.registry.agencies) if registry is not None else []
    anchor = dumps_canonical(store.home.anchor().to_dict()).decode()
    return {"documents": {"anchor": anchor, "agencies": agencies}, "bundle": BUNDLE, "theme_colour": THEME_COLOUR}


# One ES module's imports and exports, as the page's modules write them (no default export, no
# renaming, no cycles: bundle refuses anything else).
_IMPORT = re.compile(r'^import \{([^}]*)\} from "(\.{1,2}/[\w./-]+\.js)";\n', re.M)
_EXPORT_LIST = re.compile(r"^export \{([^}]*)\};\n", re.M)
_EXPORT_DECLARATION = re.compile(r"^export ((?:async )?function\*? |const |let |class )([A-Za-z_$][\w$]*)", re.M)


def _names(listed: str) -> list[str]:
    names = [name.strip() for name in listed.split(",") if name.strip()]
    if not all(re.fullmatch(r"[A-Za-z_$][\w$]*", name) for name in names):
        raise ValueError(f"an import or export the bundle does not read: {listed!r}")
    return names


@cache
def bundle() -> str:
    """static/local.js and every module it imports, in one ES module: each imported module's
    text in a function of its own (its names stay its own), run in the order the browser would
    run them (depth first, imports in order), its exports handed to the modules that import
    them; local.js's own text at the top level, its exports kept.

    Eleven files are one request instead of eleven: a browser opens six connections to a server,
    and on a slow phone's 400 ms round trip every further wave of requests costs that again.
    Comments and white space are left out (rjsmin), nothing is renamed: tests/test_offline_page.py
    checks that the bundle gives the modules' verdicts."""
    order: list[str] = []
    parsed: dict[str, tuple[str, list[tuple[list[str], str]], list[str]]] = {}

    def visit(path: str, seen: tuple[str, ...]) -> None:
        if path in seen:
            raise ValueError(f"the modules import each other in a cycle: {' → '.join((*seen, path))}")
        if path in parsed:
            return
        text = (STATIC / path).read_text(encoding="utf-8")
        imports = [(_names(names), posixpath.normpath(posixpath.join(posixpath.dirname(path), target)))
                   for names, target in _IMPORT.findall(text)]
        exports = [name for _, name in _EXPORT_DECLARATION.findall(text)]
        exports += [name for listed in _EXPORT_LIST.findall(text) for name in _names(listed)]
        body = _EXPORT_LIST.sub("", _IMPORT.sub("", text))
        if re.search(r"^\s*(import|export)\b|\bimport\(", _EXPORT_DECLARATION.sub("", body), re.M):
            raise ValueError(f"{path}: an import or export the bundle does not read")
        # The entry stays a module with its exports; the others become functions.
        parsed[path] = (_IMPORT.sub("", text) if path == ENTRY else body, imports, exports)
        for _, target in imports:
            visit(target, (*seen, path))
        order.append(path)

    visit(ENTRY, ())
    variable = {path: "$" + re.sub(r"\W", "_", path.removesuffix(".js")) for path in order}

    def imported(imports: list[tuple[list[str], str]]) -> str:
        return "".join(f"const {{ {', '.join(names)} }} = {variable[target]};\n" for names, target in imports)

    out = [f"// {BUNDLE}: static/{ENTRY} and the modules it imports, joined by verifier/web/local.py bundle().\n"]
    for path in order[:-1]:
        body, imports, exports = parsed[path]
        body = _EXPORT_DECLARATION.sub(r"\1\2", body)  # the declaration without `export`
        out.append(f"// --- static/{path}\nconst {variable[path]} = (() => {{\n{imported(imports)}{body}"
                   f"return {{ {', '.join(exports)} }};\n}})();\n")
    body, imports, _ = parsed[ENTRY]
    out.append(f"// --- static/{ENTRY}\n{imported(imports)}{body}")
    # Comments and white space out (a third of the bytes after compression); names are kept.
    return str(rjsmin.jsmin("".join(out)))


@cache
def _shell_version() -> str:
    """A digest of the files the worker keeps: a new release makes a new worker, which keeps the new files."""
    digest = hashlib.sha256(bundle().encode())
    for name in SHELL_FILES:
        digest.update(name.encode() + b"\0" + (STATIC / name).read_bytes() + b"\0")
    digest.update(Path(__file__).with_name("templates").joinpath("sw.js").read_bytes())
    return digest.hexdigest()[:16]


@blueprint.get(BUNDLE)
def script() -> Response:
    text = bundle()
    response = Response(text, mimetype="text/javascript")
    response.set_etag(hashlib.sha256(text.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "no-cache"
    response.make_conditional(request)
    return response


@blueprint.get("/sw.js")
def service_worker() -> Response:
    shell = [PAGE, BUNDLE, *(url_for("page.static", filename=name) for name in SHELL_FILES), url_for("page.favicon"),
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
