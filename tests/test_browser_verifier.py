"""The page's own verifier (verifier/web/static/check/*.js) in Debian's headless Chromium, loaded
from a real served verifier, proven equal to the server's (verifier/pipeline.py): the committed
vectors, thousands of mutations of genuine tokens signed with the city's real keys, and the
cases of the attack tests, each with the same verdict, member for member.

One browser and one served verifier for the module; the tokens go to the page in batches."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import unicodedata
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from browser_check import (
    RECORD,
    TOGGLES_IN_PAGE,
    PageVerifier,
    World,
    chromium,
    dictionary_module,
    held_by_server,
    mismatches,
    read_records,
    server_verdict,
    toggles,
)
from conftest import DAY, KEYS_FROM, City, Served, passphrase, start_server
from forge import compress, sign_raw

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.fields import MAX_TIME
from keys.jws import TYP_REGISTRY, sign_general
from keys.signer import Signer
from keys.trust import make_bundle
from permits import operator
from permits.dictionary import DICTIONARY_V1, DICTIONARY_V2
from permits.home import Home
from permits.model import BasisRef, Permit
from permits.status_list import MIN_SIZE, build_status_list
from permits.token import DICTIONARIES, compress_claims, sign_permit, zip_for

CHECK = Path(__file__).parent.parent / "verifier" / "web" / "static" / "check"
VECTORS = Path(__file__).parent / "vectors"
AGENCIES = ("hcm-skhdt", "hcm-syt", "hcm-sct", "hcm-sxd")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


@pytest.fixture(scope="module")
def served(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """conftest's `served` for the whole module: the city's registry and lists published on the
    real clock, and `permit serve` on 127.0.0.1 over its home."""
    where = tmp_path_factory.mktemp("browser_verifier")
    shutil.copytree(city_template, where / "hcm")
    home = Home(where / "hcm")
    real_now = int(time.time())
    trusted = operator.publish(home, passphrase, real_now, 30 * DAY)
    signers = {agency: home.agency_signer(trusted.registry, agency, passphrase, real_now) for agency in trusted.registry.agencies}
    city = City(home, trusted, signers)
    city.publish_all(at=real_now)
    log = where / "access.log"
    url, process = start_server(home.path, log)
    server = Served(city, url, log, process)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageVerifier]:
    driver = chromium(tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield PageVerifier(driver, served.url)
    finally:
        driver.quit()


def fetched(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def served_world(served: Served, at: int) -> World:
    """What the served verifier holds, as the page would fetch it: GET /api/v1/registry and
    GET /api/v1/status/<agency>, with the home's trust anchor."""
    lists = tuple((agency, fetched(f"{served.url}/api/v1/status/{agency}").decode("ascii")) for agency in AGENCIES)
    return World(served.city.home.file("anchor.json").read_text(), fetched(f"{served.url}/api/v1/registry"), lists, at)


def compare(page: PageVerifier, cases: list[tuple[str, World, object, int, int]]) -> tuple[Counter[str], Counter[str], list[Any]]:
    """Verify every case on both sides: (count per family, count per reason the server gave,
    mismatches as (family, token, expected, got))."""
    held = {}
    for _, world, *_ in cases:
        if world.key not in held:
            held[world.key] = held_by_server(world)
    got = page.verify([(world, token, now, grace) for _, world, token, now, grace in cases])
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    different = []
    for (family, world, token, now, grace), answer in zip(cases, got, strict=True):
        counts[family] += 1
        expected = server_verdict(held[world.key], token, now, grace)
        reasons.update(expected["reasons"] or ["(valid)"])
        if answer != expected:
            different.append((family, token, expected, answer))
    return counts, reasons, different


# --- the committed vectors ---------------------------------------------------------------------


def test_every_committed_vector_gets_the_servers_verdict_in_the_page(page: PageVerifier) -> None:
    permits = json.loads((VECTORS / "permits.json").read_text())
    lists = tuple((agency, (VECTORS / f"status-{agency}.jwt").read_text()) for agency in AGENCIES)
    world = World((VECTORS / "anchor.json").read_text(), (VECTORS / "registry.json").read_bytes(), lists, permits[0]["now"])
    opened = page.open(world)
    assert (opened["problem"], opened["version"], opened["listProblems"]) == (None, 3, {})
    got = page.verify([(world, vector["token"], vector["now"], 0) for vector in permits])
    held = held_by_server(world)
    for vector, verdict in zip(permits, got, strict=True):
        expected = vector["expected"]
        assert (verdict["valid"], verdict["reasons"]) == (expected["valid"], expected["reasons"]), vector["name"]
        assert [basis["state"] for basis in verdict.get("basis", [])] == expected.get("basis", []), vector["name"]
        assert verdict == server_verdict(held, vector["token"], vector["now"]), vector["name"]


def test_a_status_list_in_the_format_before_2027_is_left_to_the_api(page: PageVerifier) -> None:
    """The server reads lists in the format before the Token Status List until 2027-03-01 (bzip2,
    which browsers do not decompress): the page says Unsupported for the permits whose status
    is in one, so that it asks the API; from that day both refuse such a list alike."""
    from permits.status_list import LEGACY_ACCEPTED_UNTIL

    permits = {vector["name"]: vector for vector in json.loads((VECTORS / "permits.json").read_text())}
    lists = tuple((agency, (VECTORS / f"{'legacy-' if agency == 'hcm-syt' else ''}status-{agency}.jwt").read_text()) for agency in AGENCIES)
    anchor, bundle = (VECTORS / "anchor.json").read_text(), (VECTORS / "registry.json").read_bytes()
    before = World(anchor, bundle, lists, permits["revoked"]["now"])
    assert page.open(before)["listProblems"] == {"hcm-syt": "legacy_status_list"}
    names = ["revoked", "valid-es256", "basis-suspended"]
    assert held_by_server(before).lists["hcm-syt"].legacy
    got = page.verify([(before, permits[name]["token"], permits[name]["now"], 0) for name in names])
    # A Health permit, and a licence resting on a Health certificate; Industry and Trade's own is read.
    assert got[0] == got[2] == {"unsupported": "legacy_status_list"}
    assert got[1] == server_verdict(held_by_server(before), permits["valid-es256"]["token"], permits["valid-es256"]["now"])
    after = replace(before, at=LEGACY_ACCEPTED_UNTIL, allow_stale=True)  # the vectors' registry has expired by then
    assert page.open(after)["listProblems"] == {"hcm-syt": "unsupported_header"} == held_by_server(after).list_problems
    for name, verdict in zip(names, page.verify([(after, permits[name]["token"], LEGACY_ACCEPTED_UNTIL, 0) for name in names]), strict=True):
        assert verdict == server_verdict(held_by_server(after), permits[name]["token"], LEGACY_ACCEPTED_UNTIL), name


# --- the differential: mutations of genuine tokens ----------------------------------------------

Case = tuple[str, World, object, int, int]


class Mutations:
    """Tokens made from genuine ones, every one signed by the city's real keys unless the
    signature itself is what is mutated, and the documents (worlds) to verify them with."""

    def __init__(self, served: Served, now: int) -> None:
        self.city = served.city
        self.now = now
        self.signers = served.city.signers
        self.base = served_world(served, now)
        self.registry = served.city.registry
        self.cases: list[Case] = []
        self.rng = random.Random(17)
        ref = self.ref
        # A: food safety, EdDSA, no basis. B: alcohol retail, ES256, on two bases. C: on one.
        self.a = self.permit("hcm-syt", "food-safety", "DIF00001", 1001)
        self.b = self.permit("hcm-sct", "alcohol-retail", "DIF00002", 1002,
                             basis=(ref("hcm-skhdt", "business-registration", "DIF00020", 2001), ref("hcm-syt", "food-safety", "DIF00021", 1003)))
        self.c = self.permit("hcm-syt", "food-safety", "DIF00003", 1004, basis=(ref("hcm-skhdt", "business-registration", "DIF00020", 2001),))
        self.permits = (self.a, self.b, self.c)

    # -- building blocks --

    def permit(self, agency: str, ptype: str, pid: str, index: int, **changes: Any) -> Permit:
        base = Permit(agency=agency, id=pid, number=f"{index}/2026/{agency.upper()}", type=ptype, holder_id="0312345678",
                      holder_name="Công ty TNHH Thực phẩm Sạch Bình Minh",
                      holder_address="128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh",
                      activities=("Sản xuất, chế biến thực phẩm",), conditions=(),
                      issued_at=self.now - 30 * DAY, valid_from=self.now - 30 * DAY, valid_until=self.now + 700 * DAY,
                      status_index=index)
        return replace(base, **changes)

    @staticmethod
    def ref(agency: str, ptype: str, pid: str, index: int) -> BasisRef:
        return BasisRef(agency, pid, index, ptype)

    def signer(self, permit: Permit) -> Signer:
        return self.signers[permit.agency]

    def header(self, signer: Signer, **changes: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": signer.alg, "kid": signer.kid, "typ": "permit+jws", "zip": "DEFv1"}
        header.update(changes)
        return header

    def add(self, family: str, token: object, world: World | None = None, now: int | None = None, grace: int = 0) -> None:
        self.cases.append((family, world or self.base, token, self.now if now is None else now, grace))

    def claims_token(self, permit: Permit, claims: dict[str, Any] | bytes) -> str:
        """The claims compressed and signed as issuers do: DEFv2 for a permit with bases."""
        raw = claims if isinstance(claims, bytes) else dumps_canonical(claims)
        signer = self.signer(permit)
        return sign_raw(self.header(signer, zip=zip_for(permit)), compress_claims(raw, zip_for(permit)), signer)

    def payload_token(self, permit: Permit, payload: bytes, zip_name: str = "DEFv1") -> str:
        signer = self.signer(permit)
        return sign_raw(self.header(signer, zip=zip_name), payload, signer)

    def status_list(self, agency: str, entries: list[tuple[int, int]], iat: int | None = None, exp: int | None = None) -> str:
        iat = self.now - 3600 if iat is None else iat
        exp = self.now + 2 * DAY if exp is None else exp
        return build_status_list(self.registry.agencies[agency].status_url, MIN_SIZE, entries, self.signers[agency], iat, exp)

    def world(self, lists: dict[str, str], registry: bytes | None = None, allow_stale: bool = False) -> World:
        held = dict(self.base.lists)
        held.update(lists)
        return World(self.base.anchor, registry or self.base.bundle, tuple((a, t) for a, t in held.items() if t), self.now, allow_stale)

    def registry_bundle(self, edit: Callable[[dict[str, Any]], None]) -> bytes:
        """The served registry with `edit` applied, signed by the city's root threshold."""
        bundle = json.loads(self.base.bundle)
        content = json.loads(b64url_decode(bundle["registry"]["payload"]))
        edit(content)
        root = operator.current_root(self.city.home)
        signers = operator.root_signers(self.city.home, passphrase, root)[: root.threshold]
        return make_bundle(self.city.home.root_chain(), sign_general(dumps_canonical(content), signers, TYP_REGISTRY))

    # -- the families --

    def header_members(self) -> None:
        for permit in (self.a, self.b):
            signer = self.signer(permit)
            payload = compress(dumps_canonical(permit.to_claims()))
            other = self.signers["hcm-skhdt" if signer.alg == "EdDSA" else "hcm-syt"]
            other_alg = self.signers["hcm-sct" if signer.alg == "EdDSA" else "hcm-syt"]
            root_kid = next(iter(operator.current_root(self.city.home).keys))

            def token(header: dict[str, Any] | bytes, signer: Signer = signer, payload: bytes = payload) -> str:
                return sign_raw(header, payload, signer)

            for name in ("alg", "kid", "typ", "zip"):
                header = self.header(signer)
                del header[name]
                self.add("header: member removed", token(header))
            for name, value in {"jku": "https://evil.example/jwks", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
                                "x5u": "https://evil.example/c", "x5c": ["MIIB"], "x5t": "AAAA", "crit": ["exp"], "cty": "JWT", "b64": False,
                                "iss": "hcm-syt", "exp": 4102444800, "nonce": "x", "url": "https://e.example", "": 1, "ALG": "EdDSA",
                                "status": {"idx": 0, "uri": "https://evil.example/s"}}.items():
                self.add("header: member added", token(self.header(signer, **{name: value})))
            for typ in ("permit+jws", "permit+jwt", "JWT", "jwt", "PERMIT+JWS", "Permit+Jws", "permit+jws ", " permit+jwt", "application/permit+jws",
                        "statuslist+jwt", "registry+jws", "root+jws", "", None, 1, True, ["permit+jws"], {"permit+jws": 1}):
                self.add("header: typ", token(self.header(signer, typ=typ)))
            for alg in ("EdDSA", "ES256", "none", "None", "HS256", "RS256", "ES384", "Ed25519", "eddsa", "EDDSA", "ES256 ", " EdDSA", "ES256\u0000",
                        "", None, 1, True, ["EdDSA"], {"EdDSA": 1}):
                self.add("header: alg", token(self.header(signer, alg=alg)))
            full = signer.public_key().thumbprint
            kid_cyrillic = signer.kid.translate(str.maketrans("aceopxyABCEHKMOPTX", "асеорхуАВСЕНКМОРТХ"))
            for kid in (signer.kid, other.kid, other_alg.kid, root_kid, signer.kid.lower(), signer.kid.upper(), signer.kid + " ", " " + signer.kid,
                        signer.kid[:-1], full, full[:13], "", "k" * 64, "k" * 65, "é" * 64, "😀" * 33, 7, None, True, ["k"], {"k": 1},
                        "../" + signer.kid, kid_cyrillic, "constructor", "__proto__", "toString"):
                self.add("header: kid", token(self.header(signer, kid=kid)))
            for zip_ in ("DEFv1", "DEFv2", "DEF", "defv1", "DEFV2", "DEFv3", "DEFv0", "", "GZIP", None, 1, True, ["DEFv1"]):
                self.add("header: zip", token(self.header(signer, zip=zip_)))
            # The header's JSON itself, with the genuine members.
            canonical = json.dumps(self.header(signer), separators=(",", ":"))
            kid = signer.kid
            raw_headers = [
                f'{{"alg":"none","alg":"{signer.alg}","kid":"{kid}","typ":"permit+jws","zip":"DEFv1"}}',
                f'{{"alg":"{signer.alg}","kid":"{kid}","typ":"permit+jws","zip":"DEFv1","zip":"DEFv1"}}',
                "\ufeff" + canonical,
                canonical.replace('"alg"', '"\\u0061lg"'),
                canonical.replace("}", ",}"),
                canonical + " ",
                " " + canonical,
                json.dumps(self.header(signer), indent=2),
                json.dumps(dict(reversed(list(self.header(signer).items())))),
                canonical.replace('"zip":"DEFv1"', '"zip":"DEFv1","x":' + "[" * 15 + "]" * 15),
                canonical.replace('"zip":"DEFv1"', '"zip":"DEFv1","x":' + "[" * 16 + "]" * 16),
                canonical.replace('"zip":"DEFv1"', '"zip":"DEFv1","x":1.0'),
                canonical.replace('"zip":"DEFv1"', '"zip":"DEFv1","x":NaN'),
                canonical.replace(f'"kid":"{kid}"', f'"kid":"{kid}\\ud800"'),
                "[]", '"permit+jws"', "1", "null", "",
            ]
            for raw in raw_headers:
                self.add("header: JSON", token(raw.encode("utf-8", "surrogatepass")))
            self.add("header: JSON", token(canonical.encode("utf-16")))
            # An encoded header of exactly 512 characters, and longer.
            for spaces in range(300, 380):
                raw = canonical[:-1] + " " * spaces + "}"
                if len(b64url_encode(raw.encode())) in (511, 512, 514, 515):
                    self.add("header: size", token(raw.encode()))

    def claims(self) -> None:
        for permit in (self.a, self.b):
            claims = permit.to_claims()

            def with_(name: str, value: Any, base: dict[str, Any] = claims) -> dict[str, Any]:
                changed = json.loads(json.dumps(base))
                if name.startswith("permit_"):
                    if value is ...:
                        changed["permit"].pop(name[7:], None)
                    else:
                        changed["permit"][name[7:]] = value
                elif value is ...:
                    del changed[name]
                else:
                    changed[name] = value
                return changed

            for name in list(claims):
                self.add("claims: removed", self.claims_token(permit, with_(name, ...)))
            for name, value in (("x", 1), ("status", {"status_list": {"idx": 0, "uri": "https://e.example"}}), ("basis", []), ("cnf", {}), ("BASIS", [])):
                self.add("claims: added", self.claims_token(permit, with_(name, value)))
            for name in ("iss", "jti", "sub", "iat", "nbf", "exp", "ptype", "st", "ver", "permit", "basis"):
                value = claims.get(name, 1)
                for wrong in (str(value), 12345, None, True, False, [value], {"v": value}, -1, ""):
                    if wrong != value:
                        self.add("claims: wrong type", self.claims_token(permit, with_(name, wrong)))
            t = self.now
            limits = [("iat", v) for v in (-1, 0, KEYS_FROM - 1, KEYS_FROM, t + 60, t + 61, MAX_TIME, MAX_TIME + 1, 2**53 - 1, 2**53)]
            limits += [("nbf", v) for v in (-1, 0, t + 60, t + 61, claims["exp"] - 1, claims["exp"], MAX_TIME, MAX_TIME + 1)]
            limits += [("exp", v) for v in (claims["nbf"], claims["nbf"] + 1, t - 61, t - 60, t - 59, MAX_TIME, MAX_TIME + 1, 2**53 - 1)]
            limits += [("st", v) for v in (-1, 0, MIN_SIZE - 1, MIN_SIZE, 2**31 - 1, 2**31, 2**53 - 1)]
            limits += [("ver", v) for v in (-1, 0, 1, 2, 10000, 10001, 2**53 - 1)]
            for name, value in limits:
                self.add("claims: range", self.claims_token(permit, with_(name, value)))
            max_days = self.registry.types[permit.type].max_days
            for extra in (-1, 0, 1):
                span = with_("exp", claims["nbf"] + max_days * DAY + extra)
                self.add("claims: range", self.claims_token(permit, span))
            for iss in ("hcm-xyz", "hcm-sxd", "hcm-skhdt", "HCM-SYT", "hcm_syt", "-hcm", "hcm-", "a" * 32, "a" * 33, "constructor", "__proto__",
                        "hasownproperty", "hcm-ѕyt", "ｈcm-syt", "hcm-syt\n"):
                self.add("claims: iss", self.claims_token(permit, with_("iss", iss)))
            for ptype in ("construction", "business-registration", "fishing", "constructor", "Food-safety", "food_safety", "food-safety ", ""):
                self.add("claims: ptype", self.claims_token(permit, with_("ptype", ptype)))
            for jti in ("ABC", "ABCD", "A" * 32, "A" * 33, "abcd", "ABCĐ", "AB-CD", "１２３４"):
                self.add("claims: jti", self.claims_token(permit, with_("jti", jti)))
            for sub in ("0" * 32, "0" * 33, ".abc", "a.b/c-d", "ab c", "0312345678/1", "", "０３１２", "-1"):
                self.add("claims: sub", self.claims_token(permit, with_("sub", sub)))
            # The permit object.
            for name in ("no", "name", "addr", "act", "cond"):
                self.add("claims: permit members", self.claims_token(permit, with_("permit_" + name, ...)))
            for name, value in (("x", "y"), ("addr", None), ("addr", ""), ("act", []), ("cond", []), ("act", "Bán lẻ"), ("act", [1]),
                                ("cond", None), ("act", ["Bán lẻ"] * 20), ("act", ["Bán lẻ"] * 21), ("cond", ["Tuân thủ"] * 20), ("cond", ["Tuân thủ"] * 21),
                                ("name", "Ệ" * 200), ("name", "Ệ" * 201), ("addr", "Ệ" * 300), ("addr", "Ệ" * 301), ("no", "Ệ" * 64), ("no", "Ệ" * 65),
                                ("act", ["Ệ" * 300]), ("act", ["Ệ" * 301]), ("cond", ["Ệ" * 300]), ("cond", ["Ệ" * 301]), ("name", "😀" * 200),
                                ("name", "😀" * 201)):
                self.add("claims: permit members", self.claims_token(permit, with_("permit_" + name, value)))
            self.add("claims: permit members", self.claims_token(permit, with_("permit", [])))
            self.add("claims: permit members", self.claims_token(permit, with_("permit", "x")))

    TEXTS = {
        "NFD": lambda s: unicodedata.normalize("NFD", s),
        "one letter decomposed": lambda s: s.replace("ự", "ư\u0323", 1).replace("ạ", "a\u0323", 1),
        "marks reordered": lambda s: s + " Đu\u031b\u0301c",
        "leading space": lambda s: " " + s,
        "trailing space": lambda s: s + " ",
        "two inner spaces": lambda s: s.replace(" ", "  ", 1),
        "leading U+001C (Python strips it)": lambda s: "\x1c" + s,
        "trailing no-break space": lambda s: s + "\u00a0",
        "leading BOM": lambda s: "\ufeff" + s,
        "combining mark first": lambda s: "\u0301" + s,
        "old emoji": lambda s: s + " 😀",
        "mathematical bold": lambda s: s + " 𝐀",
        "CJK": lambda s: s + " 漢字",
        "Unicode 15 emoji U+1FAE8": lambda s: s + " \U0001fae8",
        "Unicode 15 CJK ext H U+31350": lambda s: s + " \U00031350",
        "Unicode 16 U+1E5D0": lambda s: s + " \U0001e5d0",
        "Unicode 14 U+1FAE0": lambda s: s + " \U0001fae0",
        "private use": lambda s: s + "\ue000",
        "unassigned U+0378": lambda s: s + "\u0378",
        "noncharacter U+FFFF": lambda s: s + "\uffff",
    }
    INVISIBLE = ["\u202e", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
                 "\u180e", "\u2062", "\U000e0041", "\u034f", "\u3164", "\uffa0", "\u115f", "\u17b4", "\u180b", "\ufe00", "\ufe0f", "\U000e0100",
                 "\x00", "\x1b", "\x08", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\r", "\n", "\t", "\u00a0", "\u202f", "\u2007", "\u3000",
                 "\u2000", "\u1680", "\U0001bca0", "\U0001d173", "\U000e0fff", "\ufff0", "\ufff9"]

    def texts(self) -> None:
        permit = self.a
        claims = permit.to_claims()
        fields = {"name": claims["permit"]["name"], "addr": claims["permit"]["addr"], "no": claims["permit"]["no"],
                  "act": "Sản xuất, chế biến thực phẩm", "cond": "Tuân thủ quy định về phòng cháy chữa cháy"}
        for name, text in fields.items():
            variants = [(label, change(text)) for label, change in self.TEXTS.items()]
            variants += [(f"U+{ord(c):04X} inside", text.replace(" ", f" {c}", 1)) for c in self.INVISIBLE]
            for label, value in variants:
                changed = json.loads(json.dumps(claims))
                changed["permit"][name] = [value] if name in ("act", "cond") else value
                self.add("text: invisible, control or unusual space" if label.endswith(" inside") else f"text: {label}", self.claims_token(permit, changed))

    def basis(self) -> None:
        for permit in (self.b, self.c):
            claims = permit.to_claims()

            def with_ref(i: int, name: str, value: Any, base: dict[str, Any] = claims) -> dict[str, Any]:
                changed = json.loads(json.dumps(base))
                if value is ...:
                    del changed["basis"][i][name]
                else:
                    changed["basis"][i][name] = value
                return changed

            for i in range(len(claims["basis"])):
                for name in ("iss", "jti", "st", "ptype"):
                    self.add("basis: field removed", self.claims_token(permit, with_ref(i, name, ...)))
                    for wrong in (None, 7, True, "", ["x"], {"x": 1}, "X" * 65):
                        self.add("basis: field wrong", self.claims_token(permit, with_ref(i, name, wrong)))
                # The reference's number went out of the format before any permit carried it.
                jti = claims["basis"][i]["jti"]
                for name, value in (("x", 1), ("no", jti), ("no", f"{jti}/2026"), ("number", jti)):
                    self.add("basis: field added", self.claims_token(permit, with_ref(i, name, value)))
                for name, value in (("iss", "hcm-xyz"), ("iss", "hcm-sxd"),
                                    ("ptype", "construction"), ("ptype", "fishing"), ("ptype", "constructor"), ("iss", "constructor"),
                                    ("st", MIN_SIZE), ("st", MIN_SIZE - 1), ("st", 2**31 - 1), ("st", 2**31), ("st", -1), ("jti", "abcd"), ("jti", "ABC")):
                    self.add("basis: field value", self.claims_token(permit, with_ref(i, name, value)))
            refs = claims["basis"]
            variants = [[], refs[::-1], refs + refs[:1], refs[:1] * 2, "x", None, {"iss": "hcm-skhdt"}, [refs[0], dict(refs[0], ptype="food-safety")],
                        [refs[0], dict(refs[0], jti="DIF00099")]]
            four = [self.ref("hcm-sct", "alcohol-retail", "DIF00030", 3001).to_claim(), self.ref("hcm-skhdt", "business-registration", "DIF00020", 2001).to_claim(),
                    self.ref("hcm-sxd", "construction", "DIF00031", 3002).to_claim(), self.ref("hcm-syt", "food-safety", "DIF00021", 1003).to_claim()]
            variants += [four, four + [self.ref("hcm-syt", "food-safety", "DIF00022", 1005).to_claim()], four[::-1],
                         [dict(r, st=MIN_SIZE + k) for k, r in enumerate(four)]]
            for value in variants:
                changed = json.loads(json.dumps(claims))
                changed["basis"] = value
                self.add("basis: list", self.claims_token(permit, changed))

    def signatures(self) -> None:
        for permit in (self.a, self.b):
            token = sign_permit(permit, self.signer(permit))
            head, payload, signature = token.split(".")
            raw = b64url_decode(signature)

            def spelled(sig: bytes, head: str = head, payload: str = payload) -> str:
                return f"{head}.{payload}.{b64url_encode(sig)}"

            self.add("signature: genuine", token)
            for i in range(64):
                self.add("signature: byte flipped", spelled(raw[:i] + bytes([raw[i] ^ (1 << (i % 8))]) + raw[i + 1:]))
            for i in (0, 31, 32, 63):
                self.add("signature: byte flipped", spelled(raw[:i] + bytes([raw[i] ^ 0x80]) + raw[i + 1:]))
            for sig in (raw[:63], raw[:62], raw[:32], raw[:1], raw + b"\x00", raw + b"\xff", raw + raw, raw[1:] + raw[:1], bytes(64), b"\xff" * 64,
                        raw[32:] + raw[:32]):
                self.add("signature: length or form", spelled(sig))
            other = sign_permit(replace(permit, number="OTHER-1"), self.signer(permit)).split(".")[2]
            self.add("signature: another permit's", f"{head}.{payload}.{other}")
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            if permit.agency == "hcm-sct":  # ES256: r‖s
                for r2, s2 in ((r, P256_ORDER - s), (0, s), (r, 0), (P256_ORDER, s), (r, P256_ORDER), (r + P256_ORDER, s) if r + P256_ORDER < 2**256 else (r, s + 1),
                               (r, s + P256_ORDER) if s + P256_ORDER < 2**256 else (r + 1, s), (P256_ORDER - 1, s), (1, 1)):
                    self.add("signature: ES256 r and s", spelled(r2.to_bytes(32, "big") + s2.to_bytes(32, "big")))
            else:  # Ed25519: R‖S, S little-endian
                s_le = int.from_bytes(raw[32:], "little")
                for s2 in (s_le + ED25519_ORDER, s_le + 2 * ED25519_ORDER, ED25519_ORDER, 0):
                    if s2 < 2**256:
                        self.add("signature: Ed25519 S", spelled(raw[:32] + s2.to_bytes(32, "little")))
                for point in (bytes([1]) + bytes(31), bytes(32), ((2**255 - 19) - 1).to_bytes(32, "little")):
                    self.add("signature: Ed25519 R", spelled(point + raw[32:]))

    def encodings(self) -> None:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        for permit in (self.a, self.b):
            signer = self.signer(permit)
            token = sign_permit(permit, signer)
            head, payload, signature = token.split(".")

            def signed(h: str, p: str, signer: Signer = signer) -> str:
                return f"{h}.{p}.{b64url_encode(signer.sign(f'{h}.{p}'.encode('utf-8', 'surrogatepass')))}"

            for pad in ("=", "==", "===", "%3D"):
                self.add("encoding: padding", token + pad)
                self.add("encoding: padding", signed(head + pad, payload))
                self.add("encoding: padding", signed(head, payload + pad))
            for segment in ("head", "payload", "signature"):
                value = {"head": head, "payload": payload, "signature": signature}[segment]
                remainder = len(value) % 4
                if remainder in (2, 3):
                    last = alphabet.index(value[-1])
                    for bits in (1, 2, 8) if remainder == 2 else (1, 2):
                        respelled = value[:-1] + alphabet[last ^ bits]
                        if segment == "signature":
                            self.add("encoding: trailing bits", f"{head}.{payload}.{respelled}")
                        elif segment == "head":
                            self.add("encoding: trailing bits", signed(respelled, payload))
                        else:
                            self.add("encoding: trailing bits", signed(head, respelled))
            if set("-_") & set(token):
                self.add("encoding: standard alphabet", token.replace("-", "+").replace("_", "/"))
            for respell in (lambda t: " " + t, lambda t: t + "\n", lambda t: t + "\r\n", lambda t: "\t" + t, lambda t: t + "\u00a0",
                            lambda t: "\ufeff" + t, lambda t: t + "\u200b", lambda t: t[:76] + "\r\n" + t[76:], lambda t: t.replace(".", ". ", 1),
                            lambda t: t.replace(".", "\n.", 1), lambda t: t[:40] + "é" + t[40:], lambda t: t[:40] + "\u0660" + t[40:],
                            lambda t: t[:-1] + "ａ", lambda t: t[:40] + "*" + t[40:], lambda t: t[:40] + "\x00" + t[40:],
                            lambda t: t + ".", lambda t: "." + t, lambda t: t.replace(".", "..", 1), lambda t: t.rsplit(".", 1)[0],
                            lambda t: t.rsplit(".", 1)[0] + ".", lambda t: t.split(".", 1)[1], lambda t: t + "." + t.split(".")[2],
                            lambda t: t.upper(), lambda t: t[:100], lambda t: t[:-1], lambda t: t[:-2]):
                self.add("encoding: form", respell(token))
            self.add("encoding: form", signed(head, payload[:-4] + "é" + payload[-3:]))
            for value in (None, 12345, ["a.b.c"], {"token": token}, "", ".", "..", "a.b.c", json.dumps({"payload": payload, "protected": head, "signature": signature})):
                self.add("encoding: not a token string", value)
        # Lengths: the cap counts characters as Python does (code points, not UTF-16 units).
        for n in (1023, 1024, 1025, 2048, 2049):
            self.add("encoding: length", "😀" * n + ".a.b")
            self.add("encoding: length", "a" * (n - 4) + ".a.b")
        for n in (2047, 2048, 2049, 4 * 1024 * 1024):
            self.add("encoding: length", "." * n)
        self.add("encoding: length", "\ud800" * 2049)
        self.add("encoding: length", "\ud800" * 2000 + ".a.b")

    def exact_lengths(self) -> None:
        """Genuinely signed valid tokens of exactly 2,048 and 2,049 characters (rule 1's way:
        incompressible conditions, then insignificant spaces in the header)."""
        rng = random.Random(1)
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        signer = self.signer(self.a)
        for seed in range(60):
            text = "".join(rng.choice(letters) for _ in range(1500 + seed))
            grown = replace(self.a, conditions=tuple(text[i:i + 250] for i in range(0, len(text), 250)))
            payload = b64url_encode(compress(dumps_canonical(grown.to_claims())))
            spare = 2048 - 88 - len(payload)
            if 120 < spare < 500 and spare % 4 in (2, 3):
                break
        canonical = json.dumps(self.header(signer), separators=(",", ":"))
        for target in (2048, 2049):
            for spaces in range(400):
                head = b64url_encode((canonical[:-1] + " " * spaces + "}").encode())
                if len(head) + len(payload) + 88 == target:
                    self.add("encoding: exact length", f"{head}.{payload}.{b64url_encode(signer.sign(f'{head}.{payload}'.encode()))}")
                    break

    def payloads(self) -> None:
        for permit in (self.a, self.b):
            raw = dumps_canonical(permit.to_claims())
            zip_name = zip_for(permit)
            payload = compress_claims(raw, zip_name)
            for i in range(len(payload)):
                for bit in (0x01, 0x80) if i % 2 else (0x10,):
                    flipped = payload[:i] + bytes([payload[i] ^ bit]) + payload[i + 1:]
                    self.add("payload: bit flipped, re-signed", self.payload_token(permit, flipped, zip_name))
            for cut in (1, 2, 3, 5, len(payload) // 2, len(payload) - 1):
                self.add("payload: truncated", self.payload_token(permit, payload[:-cut], zip_name))
            for tail in (b"\x00", b"\x03\x00", b"\xff", payload, compress(b"{}")):
                self.add("payload: trailing data", self.payload_token(permit, payload + tail, zip_name))
            # Each dictionary under each name: a v1 stream read with v2 and the other way round.
            for written, named in (("DEFv1", "DEFv1"), ("DEFv2", "DEFv2"), ("DEFv1", "DEFv2"), ("DEFv2", "DEFv1")):
                self.add(f"payload: {written} under zip {named}", self.payload_token(permit, compress_claims(raw, written), named))
            plain = zlib.compressobj(9, zlib.DEFLATED, -15)
            stored = zlib.compressobj(0, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
            fixed = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_FIXED, zdict=DICTIONARY_V1)
            huffman = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
            synced = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
            for name, data in (("no dictionary", plain.compress(raw) + plain.flush()), ("stored", stored.compress(raw) + stored.flush()),
                               ("fixed Huffman", fixed.compress(raw) + fixed.flush()), ("Huffman only", huffman.compress(raw) + huffman.flush()),
                               ("sync flush inside", synced.compress(raw[:50]) + synced.flush(zlib.Z_SYNC_FLUSH) + synced.compress(raw[50:]) + synced.flush()),
                               ("zlib wrapper", zlib.compress(raw)), ("gzip", gzip.compress(raw)), ("not compressed", raw), ("empty stream", compress(b"")),
                               ("stored, not final", b"\x00" + len(raw).to_bytes(2, "little") + (len(raw) ^ 0xFFFF).to_bytes(2, "little") + raw)):
                self.add(f"payload: {name}", self.payload_token(permit, data))
            # Far back into the dictionary, and one byte beyond it.
            for zip_name, dictionary in (("DEFv1", DICTIONARY_V1), ("DEFv2", DICTIONARY_V2)):
                for distance in (len(dictionary), len(dictionary) + 1):
                    self.add("payload: distance into the dictionary", self.payload_token(permit, fixed_match(distance), zip_name))
        self.oversized()
        self.json_payloads()

    def oversized(self) -> None:
        """Genuine claims that inflate to exactly 8,191, 8,192 (the bound) and 8,193 bytes:
        conditions of "Ệ" (three bytes each), which compress to almost nothing."""
        permit = self.a
        for target in (8191, 8192, 8193):
            for n in range(1, 21):
                full = ["Ệ" * 300] * (n - 1)
                # The length grows by 3 for each "Ệ" and by 1 for each "A" of the last item.
                rest = target - len(dumps_canonical(replace(permit, conditions=(*full, "A")).to_claims())) + 1
                x, y = divmod(rest, 3)
                if rest > 0 and x + y <= 300:
                    raw = dumps_canonical(replace(permit, conditions=(*full, "Ệ" * x + "A" * y)).to_claims())
                    assert len(raw) == target
                    self.add(f"payload: inflates to {target} bytes", self.claims_token(permit, raw))
                    break

    def json_payloads(self) -> None:
        for permit in (self.a, self.b):
            text = dumps_canonical(permit.to_claims()).decode()
            st = f'"st":{permit.status_index}'
            variants = {
                "duplicate member": [text.replace("{", '{"iss":"hcm-xyz",', 1), text.replace('"permit":{', '"permit":{"name":"Giả Mạo",', 1),
                                     text.replace(st, f"{st},{st}"), text[:-1] + ',"exp":1}'],
                "fraction or exponent": [text.replace(st, f"{st}.0"), text.replace(st, f"{st}.5"), text.replace(st, f"{st}e0"), text.replace(st, f"{st}E+0"),
                                         text.replace(st, '"st":1e3'), text.replace(st, '"st":-0.0')],
                "NaN or Infinity": [text.replace(st, '"st":NaN'), text.replace(st, '"st":Infinity'), text.replace(st, '"st":-Infinity')],
                "integer forms": [text.replace(st, '"st":-0'), text.replace(st, '"st":01'), text.replace(st, '"st":+1'), text.replace(st, f'"st":{2**53}'),
                                  text.replace(st, f'"st":{2**53 - 1}'), text.replace(st, f'"st":{-(2**53 - 1)}'), text.replace(st, '"st":' + "9" * 5000),
                                  text.replace(st, '"st":1_000'), text.replace(st, '"st":0x10'), text.replace(st, '"st":00')],
                "nesting": [text.replace('"permit":{', '"permit":{"act":' + "[" * n + "]" * n + ",", 1).replace(',"act":["Sản xuất, chế biến thực phẩm"]', "")
                            for n in (1, 14, 15, 16, 17, 3000)]
                + [text[:-1] + ',"x":' + "[" * n + "]" * n + "}" for n in (14, 15, 16)]
                + [text[:-1] + ',"x":' + '{"a":' * n + "1" + "}" * n + "}" for n in (14, 15, 16)],
                "strings": [text.replace("Công", "C\\u00f4ng", 1), text.replace("Công", "C\\ud83d\\ude00ng", 1), text.replace("Công", "C\\ud83dng", 1),
                            text.replace("Công", "C\\ude00ng", 1), text.replace("Công", "C\\ude00\\ud83dng", 1), text.replace("Công", "C\\u0000ng", 1),
                            text.replace("Công", "C\\tng", 1), text.replace("Công", "C\tng", 1), text.replace("Công", "C\\/ng", 1),
                            text.replace("Công", "C\\xng", 1), text.replace("Công", "C\\u12ng", 1), text.replace("Công", "C\\u00F4ng", 1),
                            text.replace("Công", "C\\'ng", 1), text.replace('"iss"', '"\\u0069ss"'), text.replace('"iss"', '"iss\\u0000"')],
                "whitespace and order": [json.dumps(json.loads(text), ensure_ascii=False, indent=1), json.dumps(dict(reversed(list(json.loads(text).items()))), ensure_ascii=False),
                                         " " + text + " \n\t\r", json.dumps(json.loads(text)), text + "\x00", text + " x", text + "{}", text.replace(",", ",\u00a0", 1),
                                         text.replace(",", " ,", 1), text[:-1], text + "}", text.replace("}", ",}", 1)],
                "not an object": ["[]", '"x"', "1", "null", "true", "{}", '{"iss":"hcm-syt"}', "[" + text + "]", ""],
            }
            for name, texts in variants.items():
                for variant in texts:
                    self.add(f"payload JSON: {name}", self.claims_token(permit, variant.encode("utf-8", "surrogatepass")))
            encodings = {"BOM": b"\xef\xbb\xbf" + text.encode(), "UTF-16": text.encode("utf-16"), "UTF-16-LE": text.encode("utf-16-le"),
                         "UTF-32": text.encode("utf-32"), "latin-1": text.encode("latin-1", "replace"),
                         "overlong comma": text.encode().replace(b",", b"\xc0\xac", 1), "CESU-8": text.encode().replace("Công".encode(), b"C\xed\xa0\xbd\xed\xb8\x80ng", 1),
                         "invalid byte": text.encode().replace(b"C", b"\xff", 1), "truncated UTF-8": text.encode().replace("ô".encode(), b"\xc3", 1),
                         "5-byte form": text.encode().replace(b"C", b"\xf8\x88\x80\x80\x80", 1), "beyond U+10FFFF": text.encode().replace(b"C", b"\xf4\x90\x80\x80", 1)}
            for data in encodings.values():
                self.add("payload JSON: encoding", self.claims_token(permit, data))

    def statuses(self) -> None:
        """Every 2-bit value for the permit and for each basis, in lists the agencies signed."""
        for own in range(4):
            for first in range(4):
                for second in range(4):
                    world = self.world({"hcm-syt": self.status_list("hcm-syt", [(1001, own), (1004, own), (1003, second)]),
                                        "hcm-sct": self.status_list("hcm-sct", [(1002, own)]),
                                        "hcm-skhdt": self.status_list("hcm-skhdt", [(2001, first)])})
                    for permit in self.permits:
                        self.add("status: each value", sign_permit(permit, self.signer(permit)), world)
        genuine = {p: sign_permit(p, self.signer(p)) for p in self.permits}
        for missing in ("hcm-syt", "hcm-sct", "hcm-skhdt"):
            for token in genuine.values():
                self.add("status: list missing", token, self.world({missing: ""}))
        for index in (MIN_SIZE - 1, MIN_SIZE, MIN_SIZE + 3, 2**31 - 1):
            for permit in (self.a, self.c):
                self.add("status: index at the end", sign_permit(replace(permit, status_index=index), self.signer(permit)))
        # A list that is refused is no list: signed by another agency, for another place.
        for agency, token in (("hcm-syt", self.status_list("hcm-skhdt", [])), ("hcm-skhdt", build_status_list(
                "https://evil.example/s", MIN_SIZE, [], self.signers["hcm-skhdt"], self.now - 60, self.now + DAY))):
            for permit in self.permits:
                self.add("status: list refused", genuine[permit], self.world({agency: token}))

    def stale(self) -> None:
        genuine = [sign_permit(p, self.signer(p)) for p in self.permits]
        for exp in (self.now - 3601, self.now - 61, self.now - 60, self.now - 1, self.now, self.now + 1):
            for value in range(4):
                lists = {"hcm-syt": self.status_list("hcm-syt", [(1001, value), (1004, value), (1003, value)], iat=exp - DAY, exp=exp),
                         "hcm-sct": self.status_list("hcm-sct", [(1002, value)], iat=exp - DAY, exp=exp)}
                for grace in (0, 1, 60, 3600):
                    for token in genuine:
                        self.add("stale: the permit's list", token, self.world(lists), grace=grace)
                basis_only = {"hcm-skhdt": self.status_list("hcm-skhdt", [(2001, value)], iat=exp - DAY, exp=exp)}
                for grace in (0, 60):
                    for token in genuine[1:]:
                        self.add("stale: a basis's list", token, self.world(basis_only), grace=grace)
        for expires in (self.now - 3600, self.now - 61, self.now - 60, self.now - 1, self.now, self.now + 1):
            bundle = self.registry_bundle(lambda c, e=expires: c.update(expires_at=e, issued_at=min(c["issued_at"], e - 3600)))
            for allow_stale in (True, False):
                world = self.world({}, bundle, allow_stale)
                for grace in (0, 1, 60, 7200):
                    for token in genuine:
                        self.add("stale: the registry", token, world, grace=grace)
        for issued in (self.now + 299, self.now + 300, self.now + 301):
            world = self.world({}, self.registry_bundle(lambda c, i=issued: c.update(issued_at=i)))
            self.add("stale: registry issued ahead", genuine[0], world)

    def times(self) -> None:
        t = self.now
        a = self.a
        signer = self.signer(a)
        for nbf in (t + 59, t + 60, t + 61, t + 3600):
            self.add("time: nbf", sign_permit(replace(a, valid_from=nbf, valid_until=nbf + DAY), signer))
        for exp in (t - 61, t - 60, t - 59, t):
            self.add("time: exp", sign_permit(replace(a, valid_from=exp - DAY, valid_until=exp), signer))
        for iat in (t + 59, t + 60, t + 61, KEYS_FROM - 1, KEYS_FROM):
            self.add("time: iat", sign_permit(replace(a, issued_at=iat), signer))
        fixed = sign_permit(replace(a, valid_from=t - DAY, valid_until=t + DAY), signer)
        for now in (t - DAY - 61, t - DAY - 60, t - DAY - 59, t + DAY + 59, t + DAY + 60, t + DAY + 61):
            self.add("time: the verifier's clock", fixed, now=now)

    def keys(self) -> None:
        """A registry in which Health's key was superseded, and Construction's compromised."""
        t = self.now

        def retire(content: dict[str, Any]) -> None:
            for key in content["agencies"]["hcm-syt"]["keys"].values():
                key.update(retired_at=t - 10 * DAY, retired_reason="superseded")
            for key in content["agencies"]["hcm-sxd"]["keys"].values():
                key.update(retired_at=t - 10 * DAY, retired_reason="compromised")

        world = self.world({}, self.registry_bundle(retire))
        for iat in (t - 11 * DAY, t - 10 * DAY - 1, t - 10 * DAY, t - 9 * DAY):
            self.add("keys: retired", sign_permit(replace(self.a, issued_at=iat), self.signers["hcm-syt"]), world)
            construction = self.permit("hcm-sxd", "construction", "DIF00009", 1009, issued_at=iat)
            self.add("keys: compromised", sign_permit(construction, self.signers["hcm-sxd"]), world)
        for permit in self.permits:
            self.add("keys: retired", sign_permit(permit, self.signer(permit)), world)

    def all(self) -> list[Case]:
        for family in (self.header_members, self.claims, self.texts, self.basis, self.signatures, self.encodings, self.exact_lengths,
                       self.payloads, self.statuses, self.stale, self.times, self.keys):
            family()
        return self.cases


def fixed_match(distance: int) -> bytes:
    """A raw DEFLATE stream (one fixed-Huffman block) of a single match of length 3 at
    `distance`: into the preset dictionary when it is at most the dictionary's length."""
    bits: list[int] = []

    def put(value: int, count: int, reverse: bool = False) -> None:
        for i in range(count):
            bits.append((value >> (count - 1 - i) if reverse else value >> i) & 1)

    put(1, 1)  # BFINAL
    put(1, 2)  # fixed Huffman
    put(0b0000001, 7, reverse=True)  # length code 257: length 3
    code, base, extra = next((c, b, e) for c, b, e in _DISTANCES if b <= distance < b + (1 << e))
    put(code, 5, reverse=True)
    put(distance - base, extra)
    put(0, 7, reverse=True)  # end of block
    data = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        data[i // 8] |= bit << (i % 8)
    return bytes(data)


# (code, base distance, extra bits) of DEFLATE's distance codes.
_DISTANCES = [(c, b, e) for c, (b, e) in enumerate(
    [(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (7, 1), (9, 2), (13, 2), (17, 3), (25, 3), (33, 4), (49, 4), (65, 5), (97, 5), (129, 6), (193, 6),
     (257, 7), (385, 7), (513, 8), (769, 8), (1025, 9), (1537, 9), (2049, 10), (3073, 10), (4097, 11), (6145, 11), (8193, 12), (12289, 12),
     (16385, 13), (24577, 13)])]


def test_the_page_gives_the_servers_verdict_for_thousands_of_mutated_tokens(served: Served, page: PageVerifier) -> None:
    now = served.city.trusted.registry.issued_at + 10
    cases = Mutations(served, now).all()
    started = time.monotonic()
    counts, reasons, different = compare(page, cases)
    elapsed = time.monotonic() - started
    print(f"\n{sum(counts.values())} tokens in {len(counts)} families, verified on both sides in {elapsed:.1f} s:")
    for family, count in sorted(counts.items()):
        print(f"  {count:5d}  {family}")
    print("the server's reasons among them: " + ", ".join(f"{reason} {n}" for reason, n in reasons.most_common()))
    assert sum(counts.values()) >= 2000
    assert not different, mismatches(different)


# --- what the module holds and what it needs ------------------------------------------------------


def test_the_page_reads_text_with_the_servers_unicode_on_every_code_point(page: PageVerifier) -> None:
    """Printable, white space (what strip() removes), default-ignorable, and NFC (of printable
    characters) agree with the server's Python for all 1,114,112 code points: characters
    assigned after the server's Unicode (14.0 in Python 3.11) are refused as it refuses them."""
    from keys.text import _DEFAULT_IGNORABLE

    in_page = page.evaluate(TOGGLES_IN_PAGE)
    python = {
        "printable": toggles(str.isprintable),
        "space": toggles(str.isspace),
        "ignorable": toggles(lambda c: _DEFAULT_IGNORABLE.search(c) is not None),
        "nfc": toggles(lambda c: c.isprintable() and unicodedata.is_normalized("NFC", c)),
    }
    in_page["nfc"] = page.evaluate(TOGGLES_IN_PAGE.replace('(c) => c.normalize("NFC") === c', '(c) => text.isPrintable(c) && c.normalize("NFC") === c'))["nfc"]
    for name, changes in python.items():
        assert in_page[name] == changes, f"{name}: the page's text rules differ from Python {sys.version.split()[0]} (Unicode {unicodedata.unidata_version})"


def test_the_dictionary_module_holds_permits_dictionaries_byte_for_byte(page: PageVerifier) -> None:
    assert (CHECK / "dictionary.js").read_text(encoding="utf-8") == dictionary_module()
    digests = page.evaluate("""
        const { DICTIONARIES } = await import(new URL("dictionary.js", arg.module).href);
        const out = {};
        for (const [name, bytes] of Object.entries(DICTIONARIES)) {
          const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
          out[name] = [bytes.length, Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")];
        }
        return out;""")
    assert digests == {name: [len(data), hashlib.sha256(data).hexdigest()] for name, data in DICTIONARIES.items()}


def test_chromium_has_every_feature_the_page_verifier_relies_on(page: PageVerifier) -> None:
    assert page.evaluate("return await m.features();") == {"webcrypto": True, "ed25519": True, "es256": True, "deflate": True}


def test_a_page_in_an_insecure_context_says_it_cannot_verify_itself(served: Served, tmp_path: Path) -> None:
    """The same verifier reached by a name that is not localhost, over plain HTTP: the browser
    gives that page no WebCrypto (a real browser's rule, not a fake). The module says so with
    Unsupported("webcrypto"), which the page uses to ask the API instead."""
    port = served.url.rsplit(":", 1)[1]
    driver = chromium(tmp_path / "profile", "--host-resolver-rules=MAP verifier.test 127.0.0.1")
    try:
        insecure = PageVerifier(driver, f"http://verifier.test:{port}")
        anchor = served.city.home.file("anchor.json").read_text()
        bundle = fetched(f"{served.url}/api/v1/registry").decode()
        answer = insecure.evaluate("""
            const found = [isSecureContext, await m.features()];
            try {
              await m.openTrust(arg.anchor, arg.bundle, {}, arg.now);
              found.push("opened");
            } catch (e) {
              found.push(e instanceof m.Unsupported ? e.feature : String(e));
            }
            return found;""", anchor=anchor, bundle=bundle, now=int(time.time()))
    finally:
        driver.quit()
    assert answer == [False, {"webcrypto": False, "ed25519": False, "es256": False, "deflate": True}, "webcrypto"]


def test_the_page_verifier_weighs_at_most_25_kb_compressed(served: Served) -> None:
    """Every module as the verifier serves it, each gzipped on its own (as a server compresses
    each response): the page's budget is 60 KB in all (issue 17)."""
    sizes = {}
    for path in sorted(CHECK.glob("*.js")):
        served_bytes = fetched(f"{served.url}/static/check/{path.name}")
        assert served_bytes == path.read_bytes()
        sizes[path.name] = len(gzip.compress(served_bytes, 9))
    total = sum(sizes.values())
    print(f"\npage verifier: {total:,} bytes gzipped in {len(sizes)} modules: " + ", ".join(f"{n} {s:,}" for n, s in sizes.items()))
    assert total <= 25 * 1024


# --- the attack tests' own cases -----------------------------------------------------------------

# The rules of tests/security that concern what a page verifies: the token (rules 1 to 8) and
# the registry and status lists it checks them against (rule 9 and the lists of rules 2 to 8).
# Rule 10 is about HTTP (the API's bodies, headers and the page's own server), which the page's
# verifier never sees. (test_basis_attacks.py is left out for the time it takes: its tokens'
# verdicts are the differential's basis families.)
ATTACK_TESTS = [f"tests/security/test_rule{n}_{name}.py" for n, name in
                [(1, "form"), (2, "header"), (3, "keys"), (4, "json"), (5, "time"), (6, "authority"), (7, "text"), (8, "revocation"), (9, "registry")]]


@pytest.fixture(scope="module", autouse=True)
def attack_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The attack tests, run by pytest with the recorder (tests/browser_check.py), started with
    the module so that they run while the browser works on the other tests."""
    where = tmp_path_factory.mktemp("attack_record")
    record, log = where / "record.jsonl", where / "pytest.log"
    root = Path(__file__).parent.parent
    env = {**os.environ, RECORD: str(record), "PYTHONPATH": os.pathsep.join([str(root / "tests"), os.environ.get("PYTHONPATH", "")])}
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "browser_check", "-p", "no:cacheprovider",
                                    "--basetemp", str(where / "tmp"), *ATTACK_TESTS],
                                   cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, record
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


def world_of(entry: dict[str, Any], lists: list[list[Any]] | None = None) -> World:
    """The documents a recorded call was given: its registry's bundle and these lists."""
    registry = entry["registry"]
    return World(registry["anchor"], base64.b64decode(registry["bundle"]), tuple(tuple(item) for item in lists or []), registry["at"],
                 registry["allow_stale"])


def test_the_attack_tests_cases_get_the_servers_answers_in_the_page(page: PageVerifier, attack_record: Any) -> None:
    process, record = attack_record
    waited = time.monotonic()
    assert process.wait(timeout=600) == 0, (record.parent / "pytest.log").read_text()[-3000:]
    started = time.monotonic()
    entries = list(read_records(record))
    per_file: dict[str, Counter[str]] = {}
    different: list[Any] = []

    def count(entry: dict[str, Any], what: str) -> None:
        per_file.setdefault(entry["test"].split("::")[0].split("/")[-1], Counter())[what] += 1

    # Every token the tests gave the server's verifier, with the documents it was given.
    verifies = [e for e in entries if e["kind"] == "verify"]
    for entry in verifies:
        if not entry["jsonable"]:
            count(entry, "verify: not a JSON value (not replayable)")
    verifies = [e for e in verifies if e["jsonable"]]
    got = page.verify([(world_of(e, e["lists"]), e["token"], e["now"], e["grace"]) for e in verifies])
    for entry, answer in zip(verifies, got, strict=True):
        if answer.get("unsupported") == "legacy_status_list":
            count(entry, "verify: legacy list, the page asks the API")
        elif answer == entry["expected"]:
            count(entry, "verify: same verdict")
        else:
            count(entry, "verify: DIFFERENT")
            different.append((entry["test"], entry["token"], entry["expected"], answer))

    # Every registry bundle the tests opened (rollback needs the state the page keeps itself).
    bundles = [e for e in entries if e["kind"] == "bundle"]
    answers = page.run_each("bundles", [[e["anchor"], e["bundle"], e["at"], e["allow_stale"]] for e in bundles])
    for entry, answer in zip(bundles, answers, strict=True):
        expected = entry["expected"]
        if expected.get("reason") == "registry_rollback":
            count(entry, "registry: rollback (kept by the page, not here)")
        elif expected.get("raised"):
            # The server raised an exception that is not a refusal (reported with the results).
            count(entry, f"registry: the server raised {expected['raised']}; the page says {answer.get('reason', answer)}")
        elif answer == expected:
            count(entry, "registry: same answer")
        else:
            count(entry, "registry: DIFFERENT")
            different.append((entry["test"], "(registry bundle)", expected, answer))

    # Every status list the tests opened, against the registry it was opened with.
    lists = [e for e in entries if e["kind"] == "list" and e["registry"] is not None]
    for entry in lists:
        page.open(world_of(entry))
    answers = page.run_each("lists", [[world_of(e).key, e["token"], e["agency"], e["at"]] for e in lists])
    for entry, answer in zip(lists, answers, strict=True):
        if answer.get("unsupported") == "legacy_status_list":
            count(entry, "list: legacy format, the page asks the API")
        elif answer == entry["expected"]:
            count(entry, "list: same answer")
        else:
            count(entry, "list: DIFFERENT")
            different.append((entry["test"], entry["token"], entry["expected"], answer))

    print(f"\nthe attack tests' cases ({len(entries)} recorded; {started - waited:.0f} s waited for them) replayed in the page in "
          f"{time.monotonic() - started:.1f} s:")
    for name, counts in sorted(per_file.items()):
        print(f"  {name}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    assert not different, mismatches(different)
