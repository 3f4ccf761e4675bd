"""Shared by tests/test_browser_verifier.py: the page's verifier (verifier/web/static/check/*.js)
driven in Debian's headless Chromium, the documents it is given, and the server's answer for
the same documents; and a pytest plugin (`-p browser_check`) that records what the attack tests
of tests/security hand to the server's verifier, so that the same cases reach the page's.

A *world* is what a verifier holds: the trust anchor, a registry bundle and the status lists,
opened at one time. The page opens it with `openTrust`; the server's side opens it with
keys.trust.open_bundle and permits.status_list.open_status_list, as its store does."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from keys.errors import DocumentError, PermitError
from keys.registry import Registry
from keys.trust import Root, open_bundle
from permits.status_list import StatusList, open_status_list
from verifier.pipeline import verify

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# tests/test_browser.py's flags: Debian's Chromium, headless, in a profile of its own.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
MODULE = "/static/check/verify.js"


def chromium(profile: Path, *extra: str) -> webdriver.Chrome:
    """Debian's headless Chromium through Debian's chromedriver, with the flags of test_browser."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise RuntimeError("Debian's chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", *extra):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(120)
    return driver


# Runs in the page: imports the module (once; the browser caches it) and does one operation.
# Opened worlds stay in the page between calls, so that each is opened once.
HARNESS = r"""
const [op, json, done] = arguments;
// Arguments and results travel as JSON text: chromedriver refuses strings with lone surrogates,
// which some tokens hold.
const arg = JSON.parse(json);
(async () => {
  const m = await import(arg.module);
  const worlds = window.__worlds || (window.__worlds = new Map());
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const failure = (e) => (e instanceof m.Unsupported ? { unsupported: e.feature } : { error: `${e}\n${e.stack}` });
  try {
    if (op === "world") {
      const trust = await m.openTrust(arg.anchor, bytes(arg.bundle), {}, arg.at, { allowStale: arg.allowStale });
      for (const [agency, token, at] of arg.lists) await trust.putStatusList(agency, token, at ?? arg.at);
      worlds.set(arg.key, trust);
      done(JSON.stringify({ problem: trust.problem, version: trust.version, listProblems: trust.listProblems }));
    } else if (op === "verify") {
      const out = [];
      for (const [key, token, now, grace] of arg.items) {
        try {
          out.push(await m.verify(token, worlds.get(key), now, { grace }));
        } catch (e) {
          out.push(failure(e));
        }
      }
      done(JSON.stringify(out));
    } else if (op === "bundles") {
      const registry = await import(new URL("registry.js", new URL(arg.module, location.href)).href);
      const out = [];
      for (const [anchor, bundle, at, allowStale] of arg.items) {
        try {
          const opened = await registry.openBundle(bytes(bundle), await registry.openAnchor(anchor), at, allowStale);
          out.push({ version: opened.version });
        } catch (e) {
          out.push(e instanceof registry.RegistryRefused ? { reason: e.reason } : failure(e));
        }
      }
      done(JSON.stringify(out));
    } else if (op === "lists") {
      const status = await import(new URL("status.js", new URL(arg.module, location.href)).href);
      const out = [];
      for (const [key, token, agency, at] of arg.items) {
        try {
          const opened = await status.openStatusList(token, worlds.get(key).registry, agency, at);
          out.push({ size: opened.size, issued_at: opened.issuedAt, expires_at: opened.expiresAt });
        } catch (e) {
          out.push(e.reason ? { reason: e.reason } : failure(e));
        }
      }
      done(JSON.stringify(out));
    }
  } catch (e) {
    done(JSON.stringify(failure(e)));
  }
})();
"""


@dataclass(frozen=True)
class World:
    """What a verifier holds: anchor (its JSON text), registry bundle bytes, lists (agency,
    token[, the time it was opened if not `at`]), opened at `at`; `allow_stale` keeps a registry
    already expired then."""

    anchor: str
    bundle: bytes
    lists: tuple[tuple[str, str] | tuple[str, str, int], ...]
    at: int
    allow_stale: bool = False

    @property
    def key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps([self.anchor, self.bundle.hex(), self.lists, self.at, self.allow_stale]).encode()).hexdigest()[:16]


@dataclass
class Held:
    """The server's side of a world: the registry (or the reason it is refused) and the lists."""

    registry: Registry | None
    problem: str | None
    lists: dict[str, StatusList] = field(default_factory=dict)
    list_problems: dict[str, str] = field(default_factory=dict)


def held_by_server(world: World) -> Held:
    """Open a world as the server's store does: the bundle against the anchor, then each list."""
    anchor = Root.from_dict(json.loads(world.anchor))
    try:
        trusted = open_bundle(world.bundle, anchor, world.at, allow_stale=world.allow_stale)
    except PermitError as exc:
        return Held(None, exc.reason)
    held = Held(trusted.registry, None)
    for agency, token, *at in world.lists:
        try:
            opened = open_status_list(token.removesuffix("\n"), trusted.registry, agency, at[0] if at else world.at)
        except DocumentError as exc:
            held.list_problems[agency] = exc.reason
            continue
        if agency not in held.lists or opened.issued_at >= held.lists[agency].issued_at:
            held.lists[agency] = opened
            held.list_problems.pop(agency, None)
    return held


def server_verdict(held: Held, token: object, now: int, grace: int = 0) -> dict[str, Any]:
    """What the server answers for `token` with these documents (verifier/state.py TrustStore.verify)."""
    if held.registry is None:
        from verifier.verdict import Verdict

        return Verdict("status_unknown", (held.problem,), now, None).to_dict()  # type: ignore[arg-type]
    return verify(token, held.registry, held.lists, now, grace=grace).to_dict()


class PageVerifier:
    """The module loaded in a page of a served verifier, and the operations of HARNESS."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.module = f"{base_url}{MODULE}"
        driver.get(f"{base_url}/v")
        self.opened: dict[str, dict[str, Any]] = {}

    def run(self, op: str, **arg: Any) -> Any:
        result = json.loads(self.driver.execute_async_script(HARNESS, op, json.dumps({"module": self.module, **arg})))
        if isinstance(result, dict) and "error" in result:
            raise AssertionError(f"the page's harness failed: {result['error']}")
        return result

    def open(self, world: World) -> dict[str, Any]:
        """Open `world` in the page (once); what the page says about its documents."""
        if world.key not in self.opened:
            self.opened[world.key] = self.run("world", key=world.key, anchor=world.anchor, bundle=_b64(world.bundle),
                                              lists=[list(item) for item in world.lists], at=world.at,
                                              allowStale=world.allow_stale)
        return self.opened[world.key]

    def verify(self, items: Sequence[tuple[World, object, int, int]], batch: int = 300) -> list[dict[str, Any]]:
        """The page's verdicts for (world, token, now, grace), in order, in batches."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            for world, *_ in chunk:
                self.open(world)
            out += self.run("verify", items=[[world.key, token, now, grace] for world, token, now, grace in chunk])
        return out

    def run_each(self, op: str, items: Sequence[Any], batch: int = 200) -> list[Any]:
        """`op` ("bundles" or "lists") for each item, each distinct item once, in batches."""
        keys = [json.dumps(item) for item in items]
        unique = list(dict.fromkeys(keys))
        answers: dict[str, Any] = {}
        for start in range(0, len(unique), batch):
            chunk = unique[start:start + batch]
            answers.update(zip(chunk, self.run(op, items=[json.loads(key) for key in chunk]), strict=True))
        return [answers[key] for key in keys]

    def evaluate(self, body: str, **arg: Any) -> Any:
        """Run `body` in the page: the body of an async function of `m` (the module) and `arg`,
        whose JSON-able result is returned. (Injected as script text: the page's CSP forbids eval.)"""
        script = ("const [json, done] = arguments; const arg = JSON.parse(json);"
                  f"import(arg.module).then(async (m) => {{ {body} }})"
                  ".then((r) => done(JSON.stringify(r ?? null)), (e) => done(JSON.stringify({ error: `${e}\\n${e.stack}` })));")
        result = json.loads(self.driver.execute_async_script(script, json.dumps({"module": self.module, **arg})))
        if isinstance(result, dict) and "error" in result:
            raise AssertionError(f"the page's script failed: {result['error']}")
        return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mismatches(pairs: Sequence[tuple[str, object, dict[str, Any], dict[str, Any]]], limit: int = 8) -> str:
    """The first `limit` (family, token, expected, got) that differ, for a failure message."""
    lines = []
    for family, token, expected, got in pairs[:limit]:
        shown = token if not isinstance(token, str) or len(token) < 300 else f"{token[:140]}…{token[-140:]} ({len(token)} chars)"
        lines.append(f"[{family}] token {shown!r}\n    expected {json.dumps(expected, ensure_ascii=False)}\n    got      {json.dumps(got, ensure_ascii=False)}")
    return f"{len(pairs)} mismatches; the first:\n" + "\n".join(lines)


# --- the recorder: `python -m pytest -p browser_check tests/security/...` with BROWSER_CHECK_RECORD
# set to a file: every call the tests make to the server's verifier is written there, with the
# documents it was given and what it answered. Registries are recorded as the bundles they were
# opened from (open_bundle); a registry built otherwise cannot be given to the page, and its
# calls are counted as such.

RECORD = "BROWSER_CHECK_RECORD"


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.bundles: dict[int, tuple[Registry, bytes, str, int, bool]] = {}
        self.list_opened: dict[int, tuple[StatusList, int]] = {}
        self.entries: list[dict[str, Any]] = []
        self.test = ""

    def pytest_runtest_setup(self, item: Any) -> None:
        self.test = item.nodeid

    def pytest_collection_finish(self, session: Any) -> None:
        import sys

        import keys.trust
        import permits.status_list
        import verifier.pipeline

        wrappers = {id(verifier.pipeline.verify): self._verify(verifier.pipeline.verify),
                    id(keys.trust.open_bundle): self._open_bundle(keys.trust.open_bundle),
                    id(permits.status_list.open_status_list): self._open_list(permits.status_list.open_status_list)}
        # Every module that holds one of them by name, the defining ones included.
        for module in list(sys.modules.values()):
            for name, value in list(vars(module).items() if module else ()):
                if id(value) in wrappers and callable(value) and getattr(value, "__name__", "") in ("verify", "open_bundle", "open_status_list"):
                    setattr(module, name, wrappers[id(value)])

    def _anchor(self, anchor: Root) -> str:
        from keys.encoding import dumps_canonical

        return dumps_canonical(anchor.to_dict()).decode()

    def _open_bundle(self, original: Any) -> Any:
        def open_bundle(raw: bytes, anchor: Root, now: int, state: Any = None, *, allow_stale: bool = False) -> Any:
            entry: dict[str, Any] = {"kind": "bundle", "test": self.test, "bundle": _b64(bytes(raw)), "anchor": self._anchor(anchor),
                                     "at": now, "allow_stale": allow_stale, "state": state is not None}
            self.entries.append(entry)
            try:
                trusted = original(raw, anchor, now, state, allow_stale=allow_stale)
            except PermitError as exc:
                entry["expected"] = {"reason": str(exc.reason)}
                raise
            except Exception as exc:
                entry["expected"] = {"raised": type(exc).__name__}
                raise
            entry["expected"] = {"version": trusted.registry.version}
            self.bundles[id(trusted.registry)] = (trusted.registry, bytes(raw), entry["anchor"], now, allow_stale)
            return trusted

        return open_bundle

    def _open_list(self, original: Any) -> Any:
        def open_status_list(token: str, registry: Registry, agency: str, now: int) -> StatusList:
            entry: dict[str, Any] = {"kind": "list", "test": self.test, "token": token, "agency": agency, "at": now,
                                     "registry": self._registry(registry)}
            self.entries.append(entry)
            try:
                opened: StatusList = original(token, registry, agency, now)
            except PermitError as exc:
                entry["expected"] = {"reason": str(exc.reason)}
                raise
            entry["expected"] = {"size": opened.size, "issued_at": opened.issued_at, "expires_at": opened.expires_at}
            self.list_opened[id(opened)] = (opened, now)
            return opened

        return open_status_list

    def _registry(self, registry: Registry) -> dict[str, Any] | None:
        known = self.bundles.get(id(registry))
        if known is None or known[0] is not registry:
            return None
        _, raw, anchor, at, allow_stale = known
        return {"bundle": _b64(raw), "anchor": anchor, "at": at, "allow_stale": allow_stale}

    def _verify(self, original: Any) -> Any:
        def verify(token: object, registry: Registry, status_lists: Mapping[str, StatusList], now: int, *, grace: int = 0) -> Any:
            verdict = original(token, registry, status_lists, now, grace=grace)
            lists = []
            for agency, held in status_lists.items():
                opened = self.list_opened.get(id(held))
                lists.append([agency, held.token, opened[1] if opened and opened[0] is held else now])
            self.entries.append({"kind": "verify", "test": self.test, "token": token if _jsonable(token) else None,
                                 "jsonable": _jsonable(token), "now": now, "grace": grace, "registry": self._registry(registry),
                                 "lists": lists, "expected": verdict.to_dict()})
            return verdict

        return verify

    def pytest_sessionfinish(self, session: Any) -> None:
        with open(self.path, "w", encoding="utf-8") as out:
            for entry in self.entries:
                out.write(json.dumps(entry, ensure_ascii=True) + "\n")


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def pytest_configure(config: Any) -> None:
    """Registers the recorder when this module is loaded as a plugin with BROWSER_CHECK_RECORD set."""
    path = os.environ.get(RECORD)
    if path:
        config.pluginmanager.register(Recorder(Path(path)), "browser-check-recorder")


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as records:
        for line in records:
            yield json.loads(line)


def dictionary_module() -> str:
    """The text of verifier/web/static/check/dictionary.js, from permits/dictionary.py."""
    import hashlib

    from permits.dictionary import DICTIONARY_V1, DICTIONARY_V2

    assert DICTIONARY_V2.startswith(DICTIONARY_V1)
    v1, extension = DICTIONARY_V1.decode("utf-8"), DICTIONARY_V2[len(DICTIONARY_V1):].decode("utf-8")
    assert not {"`", "\\"} & set(v1 + extension) and "${" not in v1 + extension, "no longer fits in template literals"
    return ('// The preset DEFLATE dictionaries of permit tokens, as permits/dictionary.py (written from it by\n'
            "// tests/browser_check.py). DEFv1: the UTF-8 of DICTIONARY_V1, "
            f"{len(DICTIONARY_V1):,} bytes, SHA-256\n// {hashlib.sha256(DICTIONARY_V1).hexdigest()}. "
            f"DEFv2: DEFv1 and the basis skeleton, {len(DICTIONARY_V2):,} bytes,\n// SHA-256 {hashlib.sha256(DICTIONARY_V2).hexdigest()}.\n"
            f"const V1 = `{v1}`;\n"
            "export const DICTIONARIES = {\n"
            "  DEFv1: new TextEncoder().encode(V1),\n"
            f"  DEFv2: new TextEncoder().encode(V1 + `{extension}`),\n"
            "};\n")


def toggles(predicate: Any) -> list[int]:
    """The code points at which `predicate` (of one character) changes value, from False at -1."""
    out, value = [], False
    for code in range(0x110000):
        now = bool(predicate(chr(code)))
        if now != value:
            out.append(code)
            value = now
    return out


# The page's side of `toggles`, for the predicates of check/text.js.
TOGGLES_IN_PAGE = """
const text = await import(new URL("text.js", arg.module).href);
const predicates = {
  printable: text.isPrintable,
  space: (c) => text.isSurrounded(c),
  ignorable: text.hasIgnorable,
  nfc: (c) => c.normalize("NFC") === c,
};
const out = {};
for (const [name, predicate] of Object.entries(predicates)) {
  const changes = [];
  let value = false;
  for (let code = 0; code <= 0x10ffff; code++) {
    const now = Boolean(predicate(String.fromCodePoint(code)));
    if (now !== value) { changes.push(code); value = now; }
  }
  out[name] = changes;
}
return out;
"""
