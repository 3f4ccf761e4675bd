"""The web service: the JSON API, the page a permit's QR code opens, and serving them.

The only part of the project that imports Flask (and, in serve.py, gunicorn).
"""
