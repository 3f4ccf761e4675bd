"""The page a permit's QR code opens: GET /v (and / for people who type the address).

The token stays in the URL fragment, which browsers never send, so it reaches neither this
server's access log nor any proxy's. A small external script reads it and asks the API; the
page itself holds no inline script, so the Content-Security-Policy can forbid all of them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from permits.i18n import N_, both
from verifier.reasons import BASIS_STATE_TEXT, REASON_TEXT, STATUS_TEXT
from verifier.web.scan import SCAN_SENTENCE

blueprint = Blueprint("page", __name__, static_folder="static", static_url_path="/static", template_folder="templates")

# The page's own words, in English; the catalogue gives the Vietnamese (permits/i18n.py).
UI_SENTENCE: dict[str, str] = {
    "title": N_("Check an electronic permit"),
    "intro": N_("Scan the QR code on the permit with your phone camera, or paste the code below."),
    "checking": N_("Checking…"),
    "paste_label": N_("Permit code or the link from the QR code"),
    "check": N_("Check"),
    "type": N_("Permit type"),
    "number": N_("Permit number"),
    "holder": N_("Issued to"),
    "holder_id": N_("Registration code"),
    "address": N_("Address"),
    "activities": N_("Permitted activities"),
    "conditions": N_("Conditions"),
    "validity": N_("Valid"),
    "validity_to": N_("to the end of"),
    "issuer": N_("Issued by"),
    # The permits a permit rests on (its basis), each with its own state today.
    "based_on": N_("Based on"),
    "permit_id": N_("Permit ID"),
    "version": N_("Version"),
    "checked_at": N_("Checked at"),
    "registry_version": N_("against trusted-agency list version"),
    "no_permit": N_("No content is shown because this could not be confirmed as a genuine permit."),
    "network": N_("Could not reach the verification server. Please try again."),
    "bad_input": N_("The code entered could not be read."),
    "busy": N_("The verification service cannot answer right now. Please try again in a moment."),
    "privacy": N_("The permit code is sent only to be checked and is not stored."),
    "noscript": N_("This page needs JavaScript to read the code in the link."),
}
UI_TEXT: dict[str, dict[str, str]] = {key: both(text) for key, text in UI_SENTENCE.items()}
UI_TEXT.update({key: both(text) for key, text in SCAN_SENTENCE.items()})
# The language switch names the other language in that language: not a translation.
UI_TEXT["switch"] = {"vi": "English", "en": "Tiếng Việt"}


def _texts() -> dict[str, Any]:
    return {"ui": UI_TEXT, "status": STATUS_TEXT, "reasons": REASON_TEXT, "basis_states": BASIS_STATE_TEXT}


@blueprint.get("/v")
@blueprint.get("/")
def verify_page() -> str:
    store = current_app.extensions["permit_store"]
    registry = store.snapshot.registry
    city = registry.registry.name if registry is not None else ""
    return render_template("page.html", texts=_texts(), ui=UI_TEXT, city=city)
