"""The page a permit's QR code opens: GET /v (and / for people who type the address), and its
icon at /favicon.ico.

The token stays in the URL fragment, which browsers never send, so it reaches neither this
server's access log nor any proxy's. A small external script reads it and asks for a verdict;
the page itself holds no inline script, so the Content-Security-Policy can forbid all of them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template

from permits.i18n import N_, both
from permits.printing import VALIDITY
from verifier.reasons import BASIS_STATE_TEXT, REASON_TEXT, STATUS_TEXT
from verifier.web import icon, local
from verifier.web.scan import SCAN_SENTENCE

blueprint = Blueprint("page", __name__, static_folder="static", static_url_path="/static", template_folder="templates")

# The page's own words, in English; the catalogue gives the Vietnamese (permits/i18n.py).
UI_SENTENCE: dict[str, str] = {
    "title": N_("Check an electronic permit"),
    # "The code from the QR code", never "permit code": the permit ID printed on the paper (Mã giấy
    # phép) is not what the page checks, and people typed it into the box.
    "intro": N_("Scan the QR code on the permit with your phone camera, or paste below the link the QR code opens."),
    "checking": N_("Checking…"),
    "paste_label": N_("The link or the code from the QR code"),
    "check": N_("Check"),
    "type": N_("Permit type"),
    "number": N_("Permit number"),
    "holder": N_("Issued to"),
    "holder_id": N_("Registration code"),
    "address": N_("Address"),
    "activities": N_("Permitted activities"),
    "conditions": N_("Conditions"),
    # Neutral: the row is shown under REVOKED too, where "Valid" read as a contradiction.
    "validity": N_("Validity period"),
    # The paper's own words for its dates (permits/printing.py), in its dd/mm/yyyy.
    "validity_value": VALIDITY,
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
    # What the box says to anything that is not a QR code's link or code (the page decides, and
    # asks nobody): never a verdict, since nothing was checked.
    "not_a_code": N_("This is not the code from the permit's QR code. The permit ID and the permit number printed on "
                     "the paper cannot be checked here: scan the QR code with your phone camera, or paste the whole "
                     "link the QR code opens."),
    # True of both ways a verdict comes (verifier/web/local.py): checked here, or by the API.
    "privacy": N_("The code from the QR code is checked on this device and sent nowhere; only a browser that cannot "
                  "check it itself sends it to the server, which does not store it."),
    "noscript": N_("This page checks permits with JavaScript, which this browser does not run. Scan the QR code with "
                   "a phone camera and open the link in the phone's usual browser, or ask the department that issued "
                   "the permit (its name is printed on it)."),
    "noscript_agencies": N_("Agencies' staff can check a permit offline with the command permit verify."),
    # What to do next, under each verdict, for the person holding the phone.
    "next_valid": N_("You can accept this permit. Check that the name, number and address above are those on the paper."),
    "next_invalid": N_("Do not accept it: this is not a genuine permit. It may have been forged or altered."),
    "next_revoked": N_("Do not accept it: the department that issued it has withdrawn it. "
                       "To ask why, or if it is your permit, contact the department:"),
    "next_basis_revoked": N_("Do not accept it: a permit it rests on has been withdrawn, so it is no longer in force. "
                             "To ask why, or if it is your permit, contact the department that withdrew that permit:"),
    "next_suspended": N_("Do not accept it for now: the department that issued it has suspended it. "
                         "To ask why, or if it is your permit, contact the department:"),
    "next_basis_suspended": N_("Do not accept it for now: a permit it rests on is suspended. "
                               "To ask why, or if it is your permit, contact the department that suspended that permit:"),
    "next_superseded": N_("Do not accept this copy: the department has issued a newer version of this permit. "
                          "Ask the holder for the current version and scan its QR code."),
    "next_expired": N_("Do not accept it: its validity period ended on {date}. It no longer allows the activity; "
                       "the holder needs a new permit from the department."),
    "next_not_yet_valid": N_("Do not accept it yet: it comes into force on {date}. Until then it does not allow the activity."),
    "next_status_unknown": N_("Try again later. The checking service does not have the latest list of withdrawn and "
                              "suspended permits (or of trusted departments) at the moment, so it cannot tell whether "
                              "this permit is still in force. This does not mean that the permit is fake."),
    "phone": N_("Phone"),
    "web": N_("Website"),
}
UI_TEXT: dict[str, dict[str, str]] = {key: both(text) for key, text in UI_SENTENCE.items()}
UI_TEXT.update({key: both(text) for key, text in SCAN_SENTENCE.items()})
UI_TEXT.update({key: both(text) for key, text in local.LOCAL_SENTENCE.items()})
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
    return render_template("page.html", texts=_texts(), ui=UI_TEXT, city=city, local=local.page_context(store))


@blueprint.get("/favicon.ico")
def favicon() -> Response:
    """The page's icon, where browsers look for it on every visit."""
    response = Response(icon.ico(), mimetype="image/vnd.microsoft.icon")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
