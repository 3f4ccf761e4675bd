"""Fetching a signed document over HTTP without trusting the network.

A verifier that pulls the registry or a status list must not be held up or misled by the host:
a deadline for the whole transfer (not only per read, or a host sending a byte every few seconds
holds a thread forever), a size cap, and no redirect to another host. Only the background
refresher calls this; request workers never wait on the network. The document itself is then
checked by its signature, so transport needs no other trust.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from keys.errors import PermitError


class FetchError(PermitError):
    reason = "fetch_failed"


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = 3

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise FetchError(f"refused redirect from {old.netloc} to another host")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_SameHostRedirects())
_CHUNK = 64 * 1024


def fetch(url: str, max_bytes: int, timeout: float = 5.0, accept: str = "*/*") -> bytes:
    """GET `url`; the body, or FetchError when it fails, is too large or takes too long."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) URL: {url}")
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "hcm-permits-verifier"})
    try:
        with _opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise FetchError(f"{url} answered HTTP {response.status}")
            body = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"{url} took longer than {timeout:g} s")
                chunk = response.read1(_CHUNK)
                if not chunk:
                    return bytes(body)
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"{url} sent more than {max_bytes} bytes")
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}") from None
