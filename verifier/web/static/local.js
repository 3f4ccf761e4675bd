// The page's check in the browser: the token never leaves the phone. This module decodes the
// QR code's digits (permits/qr.py), holds the documents a verifier holds (the registry bundle and
// every agency's status list, fetched whole: which permit is checked is never asked), opens them
// against the trust anchor the page carries and gives the verdict of check/verify.js, the
// server's pipeline. Where this browser cannot check (no WebCrypto, Ed25519 or ES256, no
// DecompressionStream, no storage, a status list in the format before 2027-03-01) it asks the
// API, and says so.
//
//   window.permitLocal.verdictFor(token, askServer) → Promise of {verdict, source: "device",
//     dataAt} (dataAt: when the documents were last fetched, RFC 3339), {problem}, or what
//     askServer(token) gives, with source "server"; never rejects.
//
// The documents the page accepted are kept in Cache Storage (STORE), never older than those it
// holds: a registry of a lower version or a list issued before the one held is ignored (the
// module leaves rollback to its caller). A registry or list past its expiry stays held and makes
// verdicts registry_stale / status_stale, as the server's own (grace 0): never valid.

import { Unsupported, features, iso, openTrust, verify } from "./check/verify.js";
import { b64urlEncode, utf8 } from "./check/encoding.js";

// The check itself, for tests that give the bundle (verifier/web/local.py) the modules' cases.
export { Unsupported, openTrust, verify };

const MAX_TOKEN_LENGTH = 2048;
const VERIFY_BODY_MAX = 8 * 1024; // the API's: a larger body is refused 413
const MAX_DIGITS = 4000;
const DIGITS = /^[0-9]+$/;
const LAYOUT_V1 = 1;
const LAYOUT_V2 = 2;
const ALGS = ["EdDSA", "ES256"];
const ZIPS = ["DEFv1", "DEFv2"];
const KID_BYTES = 9;
const SIGNATURE_BYTES = 64;

// Seconds an open page keeps its documents before it asks for them again (the server's own
// refresh interval), and milliseconds a check waits for them before it uses those held.
const REFRESH_EVERY = 60;
const WAIT_FOR_NETWORK = 3000;
const STORE = "permit-documents";
const KEY = { state: "/permit-documents/state", registry: "/permit-documents/registry", list: (agency) => `/permit-documents/status/${agency}` };

const seconds = () => Math.floor(Date.now() / 1000);

// --- the QR code's digits (docs/token-profile.md §7) ----------------------------------------------

class NotDigits extends Error {}

function layout2Header(alg, kid, zip) {
  // keys/encoding.py dumps_canonical: members sorted, no white space.
  return `{"alg":${JSON.stringify(alg)},"kid":${JSON.stringify(kid)},"typ":"permit+jws","zip":${JSON.stringify(zip)}}`;
}

// permits/qr.py digits_to_token: the compact JWS the digits carry; NotDigits for anything that
// is not exactly such a number.
export function digitsToToken(digits) {
  if (!(digits.length > 0 && digits.length <= MAX_DIGITS && DIGITS.test(digits)) || digits[0] === "0") throw new NotDigits("not a QR token number");
  let hex = BigInt(digits).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const packed = new Uint8Array(hex.length / 2);
  for (let i = 0; i < packed.length; i++) packed[i] = parseInt(hex.substr(2 * i, 2), 16);
  const join = (header, payload, signature) => [header, payload, signature].map(b64urlEncode).join(".");
  if (packed[0] === LAYOUT_V2) {
    const start = 2 + KID_BYTES;
    if (packed.length <= start + SIGNATURE_BYTES) throw new NotDigits("truncated");
    const alg = ALGS[packed[1] % 16];
    const zip = ZIPS[Math.floor(packed[1] / 16)];
    if (alg === undefined || zip === undefined) throw new NotDigits("unknown form");
    const header = utf8.encode(layout2Header(alg, b64urlEncode(packed.subarray(2, start)), zip));
    return join(header, packed.subarray(start + SIGNATURE_BYTES), packed.subarray(start, start + SIGNATURE_BYTES));
  }
  if (packed.length < 3 || packed[0] !== LAYOUT_V1) throw new NotDigits("unknown layout");
  const [headerLength, signatureLength] = [packed[1], packed[2]];
  const header = packed.subarray(3, 3 + headerLength);
  const signature = packed.subarray(3 + headerLength, 3 + headerLength + signatureLength);
  const payload = packed.subarray(3 + headerLength + signatureLength);
  if (header.length !== headerLength || signature.length !== signatureLength || !(header.length && signature.length && payload.length)) {
    throw new NotDigits("truncated");
  }
  return join(header, payload, signature);
}

const codePoints = (text) => (text.length <= MAX_TOKEN_LENGTH ? text.length : [...text].length);

// What the API makes of a token sent to it (verifier/web/api.py _token): the token to check, or
// null where it answers 413 (the page then says the code could not be read).
export function tokenToCheck(value) {
  if (utf8.encode(JSON.stringify({ token: value })).length > VERIFY_BODY_MAX) return null;
  if (codePoints(value) > 2 * MAX_TOKEN_LENGTH) return null;
  if (DIGITS.test(value)) {
    try {
      return digitsToToken(value);
    } catch (error) {
      if (error instanceof NotDigits) return value; // the pipeline calls it malformed_token
      throw error;
    }
  }
  return codePoints(value) > MAX_TOKEN_LENGTH ? null : value;
}

// --- the documents ----------------------------------------------------------------------------------

const config = JSON.parse(document.getElementById("documents").textContent);

// {bundle: bytes or null, lists: {agency: token}, ok: whether the server answered}. The first
// requests of a page are plain, as its preload links make them (so that those answers are used;
// a worker controlling the page revalidates them, sw.js); later ones revalidate what the
// browser's cache holds (a list may be cached for a minute).
let preloaded = true;

async function fetchDocuments(agencies, withRegistry = true) {
  const options = preloaded ? {} : { cache: "no-cache" };
  preloaded = false;
  const answer = { bundle: null, lists: {}, ok: !withRegistry };
  const list = async (agency) => {
    try {
      const response = await fetch(`/api/v1/status/${encodeURIComponent(agency)}`, options);
      if (response.ok) answer.lists[agency] = await response.text();
    } catch {
      // not had now: the list held stays
    }
  };
  const lists = agencies.map(list);
  if (withRegistry) {
    try {
      const response = await fetch("/api/v1/registry", options);
      // 404: the server holds no registry (the page then holds none either, unless it kept one).
      answer.ok = response.ok || response.status === 404;
      if (response.ok) answer.bundle = new Uint8Array(await response.arrayBuffer());
    } catch {
      answer.ok = false;
    }
  }
  await Promise.all(lists);
  return answer;
}

async function readStore(store) {
  const held = { bundle: null, lists: {}, version: null, updatedAt: null };
  const state = await store.match(KEY.state);
  if (!state) return held;
  Object.assign(held, await state.json());
  const bundle = await store.match(KEY.registry);
  if (bundle) held.bundle = new Uint8Array(await bundle.arrayBuffer());
  for (const agency of held.agencies || []) {
    const list = await store.match(KEY.list(agency));
    if (list) held.lists[agency] = await list.text();
  }
  return held;
}

const same = (a, b) => a !== null && b !== null && a.length === b.length && a.every((byte, i) => byte === b[i]);

// The trust of the documents held and those fetched: the newer registry (the one held kept when
// expired, as the server keeps its own; one fetched refused then, as a pull is; one of a lower
// version than the one held ignored), each agency's newer list; and which of them to store.
async function combine(held, fetched, now) {
  const open = (bundle, allowStale) => openTrust(config.anchor, bundle, {}, now, { allowStale });
  const mine = held.bundle ? await open(held.bundle, true) : null;
  const theirs = fetched.bundle && !same(fetched.bundle, held.bundle) ? await open(fetched.bundle, false) : null;
  let trust, bundle;
  if (theirs && theirs.registry && !(mine && mine.registry && theirs.version < mine.version)) [trust, bundle] = [theirs, fetched.bundle];
  else if (mine && mine.registry) [trust, bundle] = [mine, held.bundle];
  else [trust, bundle] = [theirs || mine, null];
  if (!trust) return { trust: null, bundle: null, lists: {} };
  const lists = {};
  // Each agency's lists in turn (the one held, then the one fetched if it differs); the agencies
  // at once, so that their signatures and inflating overlap.
  const agencies = new Set([...Object.keys(held.lists), ...Object.keys(fetched.lists)]);
  await Promise.all([...agencies].map(async (agency) => {
    for (const token of new Set([held.lists[agency], fetched.lists[agency]])) {
      if (token === undefined) continue;
      const before = trust.lists.get(agency);
      if ((await trust.putStatusList(agency, token, now)) === null && trust.lists.get(agency) !== before) lists[agency] = token;
    }
  }));
  return { trust, bundle, lists };
}

// Store what `combine` accepted; the state last, so that a page closed halfway reads the documents
// it held before (each document stored is one it accepted: never older than the state says).
async function keep(store, combined, updatedAt) {
  const { trust, bundle, lists } = combined;
  await Promise.all([store.put(KEY.registry, new Response(bundle)),
    ...Object.entries(lists).map(([agency, token]) => store.put(KEY.list(agency), new Response(token)))]);
  const state = { version: trust.version, updatedAt, agencies: [...trust.lists.keys()] };
  await store.put(KEY.state, new Response(JSON.stringify(state)));
}

// --- what the page holds ----------------------------------------------------------------------------

const page = {
  unsupported: null, // the feature this browser lacks: the API is asked
  store: null,
  opened: null, // the store opened and read
  held: null, // what the store holds (documents and state)
  trust: null,
  updatedAt: null, // when the documents were last fetched from the server (seconds)
  triedAt: 0,
  refreshing: null,
};

// Fetch the documents, open them with those held, keep what is new. Resolves when done, to whether
// the server answered (never rejects).
function refresh() {
  if (page.unsupported) return Promise.resolve(false);
  if (page.refreshing) return page.refreshing;
  page.triedAt = seconds();
  page.refreshing = (async () => {
    const agencies = new Set(config.agencies);
    if (page.trust && page.trust.registry) for (const agency of page.trust.registry.agencies.keys()) agencies.add(agency);
    const fetched = await fetchDocuments([...agencies]);
    await page.opened;
    if (!fetched.ok) return false;
    const now = seconds();
    let combined = await combine(page.held, fetched, now);
    // A registry may name agencies the page did not know of: their lists too.
    const known = combined.trust && combined.trust.registry ? [...combined.trust.registry.agencies.keys()] : [];
    const missing = known.filter((agency) => !agencies.has(agency));
    if (missing.length) {
      const more = await fetchDocuments(missing, false);
      combined = await combine(page.held, { ...fetched, lists: { ...fetched.lists, ...more.lists } }, now);
    }
    [page.trust, page.updatedAt] = [combined.trust, now];
    if (combined.trust && combined.trust.registry) {
      // Kept in the background: the check that waits for these documents need not wait for the disk.
      const lists = { ...page.held.lists, ...combined.lists };
      page.held = { bundle: combined.bundle, lists, version: combined.trust.version, updatedAt: now, agencies: Object.keys(lists) };
      keep(page.store, combined, now).catch(() => {});
    }
    return true;
  })().catch(() => false).finally(() => { page.refreshing = null; });
  return page.refreshing;
}

// When the connection returns, fetch again; the first tries may still meet the old network (a phone
// between networks, a service worker not yet told), so a failed try is repeated a few times.
async function refreshOnReconnect() {
  for (const wait of [0, 1000, 2000, 4000, 8000]) {
    await timeout(wait);
    if (!navigator.onLine || (await refresh())) return;
  }
}

const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function start() {
  const found = await features();
  if (!found.webcrypto) return void (page.unsupported = "webcrypto");
  if (!found.deflate) return void (page.unsupported = "decompression");
  // The store is opened while the documents come (opening it the first time takes a while).
  page.opened = (async () => {
    page.store = await caches.open(STORE);
    page.held = await readStore(page.store);
  })();
  const fetching = refresh();
  try {
    await page.opened;
  } catch {
    return void (page.unsupported = "storage");
  }
  if (!page.held.bundle) return fetching; // a first visit: the server's documents or nothing
  // Online, the server's current documents, unless they take too long; offline, those held.
  if (navigator.onLine) await Promise.race([fetching, timeout(WAIT_FOR_NETWORK)]);
  if (!page.trust) {
    const combined = await combine(page.held, { bundle: null, lists: {} }, seconds());
    if (!page.trust) [page.trust, page.updatedAt] = [combined.trust, page.held.updatedAt];
  }
}

let ready = start().catch((error) => {
  if (!(error instanceof Unsupported)) throw error;
  page.unsupported = error.feature;
});

// An open page keeps its documents current: when the connection returns, and every REFRESH_EVERY.
// In the background: a check made meanwhile does not wait for the retries.
window.addEventListener("online", () => { ready.then(() => { refreshOnReconnect(); }); });
setInterval(() => {
  if (navigator.onLine && document.visibilityState === "visible" && seconds() - page.triedAt >= REFRESH_EVERY) refresh();
}, REFRESH_EVERY * 1000);

function askedServer(token, askServer) {
  return askServer(token).then((result) => Object.assign(result, { source: "server" }));
}

async function verdictFor(token, askServer) {
  await ready;
  if (page.unsupported) return askedServer(token, askServer);
  if (navigator.onLine && seconds() - page.triedAt >= REFRESH_EVERY) await Promise.race([refresh(), timeout(WAIT_FOR_NETWORK)]);
  const value = tokenToCheck(token);
  if (value === null) return { problem: "bad_input" };
  if (!page.trust) return page.updatedAt === null ? { problem: "network" } : { verdict: unavailable(), source: "device", dataAt: iso(page.updatedAt) };
  try {
    const verdict = await verify(value, page.trust, seconds(), { grace: 0 });
    return { verdict, source: "device", dataAt: iso(page.updatedAt) };
  } catch (error) {
    if (error instanceof Unsupported) return askedServer(token, askServer);
    throw error;
  }
}

// The server held no registry when asked: its verdict then (verifier/state.py).
function unavailable() {
  return { valid: false, status: "status_unknown", reasons: ["registry_unavailable"], checked_at: iso(seconds()), registry_version: null };
}

window.permitLocal = {
  verdictFor: (token, askServer) => verdictFor(token, askServer).catch(() => askedServer(token, askServer)),
};

// The worker that keeps the page for offline use, once the page has what it needs (it fetches
// the page's files again: not while the first check waits for them).
ready.then(() => {
  if (!page.unsupported && navigator.serviceWorker) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
});
