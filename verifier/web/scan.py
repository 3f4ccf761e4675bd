"""The words of the page's scanner (verifier/web/static/scan.js): an inspector checking many
permits in a row with the phone's camera, and the tally of what was checked, kept on the phone.

In English here; the catalogue gives the Vietnamese (permits/i18n.py). page.py adds them to the
page's texts, so that the language switch changes them with the rest of the page.
"""

from __future__ import annotations

from permits.i18n import N_

SCAN_SENTENCE: dict[str, str] = {
    "scan": N_("Scan with the camera"),
    "scan_stop": N_("Stop scanning"),
    "scan_starting": N_("Starting the camera…"),
    "scan_hint": N_("Hold each permit's QR code in the frame: each is checked in turn."),
    # What to do instead is said in the same sentence: a refused camera is not the end of the check.
    "camera_refused": N_("This page may not use the camera. Allow the camera for this page in the browser's "
                         "settings, or paste the link from the QR code below."),
    "camera_absent": N_("No camera is available to this page. Scan the QR code with the phone's camera app, "
                        "or paste the link from the QR code below."),
    "scan_failed": N_("The scanner could not be started. Paste the link from the QR code below."),
    "tally": N_("Checked on this phone"),
    "tally_checked": N_("Permits checked"),
    "tally_valid": N_("Found valid"),
    "tally_invalid": N_("Found not valid"),
    "tally_recent": N_("Last checks"),
    "tally_clear": N_("Clear the tally"),
    "tally_private": N_("The tally is kept on this phone only and is never sent anywhere."),
}
