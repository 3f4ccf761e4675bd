// The registry bundle, checked as keys/trust.py open_bundle and keys/registry.py from_dict do:
// the root chain from the anchor, thresholds, sizes before decoding, every key, the model.

import { Malformed, MAX_SAFE_INT, b64urlDecode, isInt, isObject, parseStrict, parseText, utf8 } from "./encoding.js";
import { FieldError, isIdentifier, length, text } from "./text.js";
import { KeyRejected, kidOf, loadPublicJwk, verifySignature } from "./keys.js";
import { Refusal, decodeHeader } from "./jws.js";

// A registry not trusted: `reason` is registry_invalid or registry_stale.
export class RegistryRefused extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}
const bad = (why) => new FieldError("bad", why);

// keys/fields.py MAX_TIME (9999-12-31T09:59:59Z) and ISSUED_AT_LEEWAY.
export const MAX_TIME = 253402300799 - 14 * 3600;
export const ISSUED_AT_LEEWAY = 300;
// Capacity, as keys/trust.py.
const MAX_AGENCIES = 5000;
const MAX_KEYS_PER_AGENCY = 8;
const MAX_KEYS = 20000;
const MAX_TYPES = 500;
const MAX_ROOT_KEYS = 16;
const MAX_ROOT_CHAIN = 32;
const b64Length = (size) => Math.floor((4 * size + 2) / 3);
const MAX_REGISTRY_PAYLOAD = b64Length(1024 + MAX_AGENCIES * 512 + MAX_KEYS * 256 + MAX_TYPES * 256);
const MAX_ROOT_PAYLOAD = b64Length(256 + MAX_ROOT_KEYS * 256);
const SIGNATURE_ENTRY = '{"protected":"","signature":""},'.length + 160 + 86;
const SIGNED = '{"payload":"","signatures":[]},'.length;
export const MAX_BUNDLE_BYTES =
  '{"registry":,"roots":[]}\n'.length +
  MAX_ROOT_CHAIN * (SIGNED + MAX_ROOT_PAYLOAD + 2 * MAX_ROOT_KEYS * SIGNATURE_ENTRY) +
  SIGNED + MAX_REGISTRY_PAYLOAD + MAX_ROOT_KEYS * SIGNATURE_ENTRY;

// fields.members: `obj` an object with all of `required`, some of `optional`, nothing else.
export function members(obj, required, optional = []) {
  if (!isObject(obj)) throw bad("not an object");
  for (const name of required) if (!obj.has(name)) throw new FieldError("missing", name);
  for (const name of obj.keys()) if (!required.includes(name) && !optional.includes(name)) throw bad(name);
  return obj;
}

// fields.integer: an integer (never a boolean) in [low, high].
export function integer(value, low = 0, high = MAX_SAFE_INT) {
  if (!isInt(value) || value < low || value > high) throw bad("integer");
  return value;
}

// fields.time_value: whole seconds from 1970 to MAX_TIME.
export const time = (value) => integer(value, 0, MAX_TIME);

export function identifier(value) {
  if (!isIdentifier(value)) throw bad("identifier");
  return value;
}

const names = (obj) => {
  const m = members(obj, ["vi", "en"]);
  return { vi: text(m.get("vi"), 200), en: text(m.get("en"), 200) };
};

// Strictly ascending (sorted, unique), as Python compares these ASCII identifiers.
const ascending = (list) => list.every((item, i) => i === 0 || list[i - 1] < item);

// Python 3.11's ipaddress.IPv4Address.
const isIpv4 = (text) => /^((0|[1-9][0-9]{0,2})\.){3}(0|[1-9][0-9]{0,2})$/.test(text) && text.split(".").every((o) => o <= 255);

// Python 3.11's ipaddress.IPv6Address, a scope id included.
function isIpv6(text) {
  const [address, ...scope] = text.split("%");
  if (text.includes("/") || scope.length > 1 || scope[0] === "") return false;
  let parts = address.split(":");
  if (parts.length < 3) return false;
  if (parts.at(-1).includes(".")) {
    if (!isIpv4(parts.pop())) return false;
    parts.push("0", "0");
  }
  const skips = parts.slice(1, -1).flatMap((part, i) => (part ? [] : [i + 1]));
  let hi = parts.length;
  let lo = 0;
  if (parts.length > 9 || skips.length > 1) return false;
  if (skips.length) {
    hi = skips[0];
    lo = parts.length - hi - 1;
    if ((!parts[0] && --hi) || (!parts.at(-1) && --lo) || hi + lo > 7) return false;
  } else if (parts.length !== 8) {
    return false;
  }
  return [...parts.slice(0, hi), ...parts.slice(parts.length - lo)].every((part) => /^[0-9a-fA-F]{1,4}$/.test(part));
}

// check_url: canonical text; urlsplit's scheme http or https (any case), a netloc, no space.
// Where Python 3.11's urlsplit raises (brackets, NFKC), the URL is refused.
// urlsplit's scheme (lower case) and netloc; FieldError where urlsplit raises ValueError.
function urlParts(url) {
  const colon = url.indexOf(":");
  const scheme = colon > 0 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(url.slice(0, colon)) ? url.slice(0, colon).toLowerCase() : "";
  const rest = scheme ? url.slice(colon + 1) : url;
  const netloc = rest.startsWith("//") ? rest.slice(2).split(/[/?#]/)[0] : "";
  if (netloc.includes("[") !== netloc.includes("]")) throw bad("brackets");
  if (netloc.includes("[")) {
    const host = netloc.split("[")[1].split("]")[0];
    if (host.startsWith("v") ? !/^v[a-fA-F0-9]+\..+$/.test(host) : isIpv4(host) || !isIpv6(host)) throw bad("host");
  }
  const plain = netloc.replace(/[@:#?]/g, "");
  if (plain.normalize("NFKC") !== plain && /[/?#@:]/.test(plain.normalize("NFKC"))) throw bad("NFKC");
  return { scheme, netloc };
}

function checkUrl(value) {
  const url = text(value, 512);
  const { scheme, netloc } = urlParts(url);
  if (!["http", "https"].includes(scheme) || !netloc || url.includes(" ")) throw bad("URL");
  return url;
}

// An agency's contact (keys/registry.py check_phone, check_web, Contact.from_dict).
const PHONE = /^[0-9+()-]+(?: [0-9+()-]+)*$/;

function checkPhone(value) {
  if (typeof value !== "string" || !(value.length > 0 && value.length <= 32) || !PHONE.test(value)
      || value.replace(/[^0-9]/g, "").length < 3) throw bad("contact phone");
  return value;
}

function checkWeb(value) {
  if (typeof value !== "string" || !(value.length > 0 && value.length <= 200) || !/^[\x20-\x7e]*$/.test(value)) throw bad("contact web");
  const { scheme, netloc } = urlParts(value);
  // urlsplit's hostname: after any user part, inside brackets or before a port, lower-cased.
  const hostinfo = netloc.slice(netloc.lastIndexOf("@") + 1);
  const hostname = hostinfo.includes("[") ? hostinfo.split("[")[1].split("]")[0] : hostinfo.split(":")[0];
  if (scheme !== "https" || !hostname || netloc.includes("@") || value.includes(" ")) throw bad("contact web");
  return value;
}

function contactOf(obj) {
  const m = members(obj, [], ["phone", "web"]);
  if (!m.size) throw bad("contact");
  const contact = {};
  if (m.has("phone")) contact.phone = checkPhone(m.get("phone"));
  if (m.has("web")) contact.web = checkWeb(m.get("web"));
  return contact;
}

function permitType(code, obj) {
  const m = members(obj, ["name", "max_days"], ["requires"]);
  const requires = m.has("requires") ? m.get("requires") : [];
  if (!Array.isArray(requires) || (m.has("requires") && !requires.length)) throw bad("requires");
  const type = { code, name: names(m.get("name")), maxDays: m.get("max_days"), requires: requires.map(identifier) };
  identifier(code);
  integer(type.maxDays, 1, 36500);
  if (!ascending(type.requires)) throw bad("requires");
  return type;
}

async function agencyKey(agency, kid, obj) {
  const m = members(obj, ["alg", "jwk", "valid_from"], ["retired_at", "retired_reason"]);
  const key = loadPublicJwk(m.get("jwk"), m.get("alg"));
  if ((await kidOf(key)) !== kid) throw bad("kid");
  // A member given as null is absent, as m.get() reads it in Python.
  const retiredAt = m.get("retired_at") ?? null;
  const reason = m.get("retired_reason") ?? null;
  time(m.get("valid_from"));
  if ((retiredAt === null) !== (reason === null)) throw bad("retired");
  if (retiredAt !== null) time(retiredAt);
  if (reason !== null && reason !== "superseded" && reason !== "compromised") throw bad("retired");
  return Object.assign(key, { kid, agency, validFrom: m.get("valid_from"), retiredAt, compromised: reason === "compromised" });
}

async function agencyOf(id, obj) {
  const m = members(obj, ["name", "types", "status_url", "keys"], ["contact"]);
  if (!Array.isArray(m.get("types")) || !isObject(m.get("keys"))) throw bad("agency");
  identifier(id);
  const agency = { id, name: names(m.get("name")), types: m.get("types").map(identifier), keys: [] };
  // Whom to call about its permits (issue 17), as keys/registry.py Contact.
  if (m.has("contact")) agency.contact = contactOf(m.get("contact"));
  for (const [kid, key] of m.get("keys")) agency.keys.push(await agencyKey(id, kid, key));
  if (!agency.types.length || !ascending(agency.types)) throw bad("types");
  agency.statusUrl = checkUrl(m.get("status_url"));
  return agency;
}

// Registry.from_dict: the registry model, every member checked, keys by kid. Throws FieldError
// or KeyRejected.
export async function registryFromObject(obj) {
  const m = members(obj, ["registry", "name", "version", "issued_at", "expires_at", "types", "agencies"]);
  if (!isObject(m.get("types")) || !isObject(m.get("agencies"))) throw bad("registry");
  const types = new Map([...m.get("types")].map(([code, type]) => [code, permitType(code, type)]));
  const agencies = new Map();
  for (const [id, agency] of m.get("agencies")) agencies.set(id, await agencyOf(id, agency));
  const registry = {
    id: identifier(m.get("registry")),
    name: text(m.get("name"), 200),
    version: integer(m.get("version")),
    issuedAt: time(m.get("issued_at")),
    expiresAt: time(m.get("expires_at")),
    types,
    agencies,
    keys: new Map(),
  };
  // Required types exist, and none rests on itself however indirectly.
  const done = new Set();
  const visit = (code, path) => {
    if (path.includes(code)) throw bad("cycle");
    if (!done.has(code)) types.get(code).requires.forEach((required) => visit(required, [...path, code]));
    done.add(code);
  };
  for (const type of types.values()) if (!type.requires.every((required) => types.has(required))) throw bad("requires");
  types.forEach((_, code) => visit(code, []));
  for (const agency of agencies.values()) {
    if (!agency.types.every((code) => types.has(code))) throw bad("types");
    for (const key of agency.keys) {
      if (registry.keys.has(key.kid)) throw bad("kid twice");
      registry.keys.set(key.kid, key);
    }
  }
  return registry;
}

// parse_general: the form of a general-JSON JWS, before any cryptography.
function general(document, typ, maxSignatures, maxPayload) {
  const m = members(document, ["payload", "signatures"]);
  const [payload, entries] = [m.get("payload"), m.get("signatures")];
  if (typeof payload !== "string" || !Array.isArray(entries) || !entries.length) throw bad("signed document");
  if (length(payload) > maxPayload || !/^[\x00-\x7f]*$/.test(payload) || entries.length > maxSignatures) throw bad("size");
  const signatures = entries.map((entry) => {
    const e = members(entry, ["protected", "signature"]);
    const [protectedHeader, signature] = [e.get("protected"), e.get("signature")];
    if (typeof protectedHeader !== "string" || typeof signature !== "string") throw bad("signature");
    if (length(protectedHeader) > 160 || length(signature) !== 86) throw bad("signature size");
    const header = members(decodeHeader(protectedHeader), ["alg", "kid", "typ"]);
    const bytes = b64urlDecode(signature);
    if (header.get("typ") !== typ) throw bad("typ");
    const [alg, kid] = [header.get("alg"), header.get("kid")];
    if (typeof alg !== "string" || typeof kid !== "string") throw bad("alg, kid");
    return { alg, kid, protectedHeader, signature: bytes };
  });
  if (new Set(signatures.map((s) => s.kid)).size !== signatures.length) throw bad("a key signs twice");
  return { payload, signatures };
}

// verify_general: the kids of `keys` (a Map) whose signatures over `document` verify.
async function signedBy(document, keys) {
  if (document.signatures.length > keys.size) throw bad("more signatures than keys");
  const kids = new Set();
  for (const entry of document.signatures) {
    const key = keys.get(entry.kid);
    if (key && key.alg === entry.alg && (await verifySignature(key, entry.signature, utf8.encode(`${entry.protectedHeader}.${document.payload}`)))) {
      kids.add(entry.kid);
    }
  }
  return kids;
}

const content = (document) => parseStrict(b64urlDecode(document.payload));

// Root.from_dict: a root's keys and threshold. Throws FieldError or KeyRejected.
export async function rootFromObject(obj) {
  const m = members(obj, ["registry", "version", "threshold", "keys"]);
  if (!isObject(m.get("keys")) || !(m.get("keys").size > 0 && m.get("keys").size <= MAX_ROOT_KEYS)) throw bad("root keys");
  const keys = new Map();
  for (const [kid, entry] of m.get("keys")) {
    const k = members(entry, ["alg", "jwk"]);
    keys.set(kid, loadPublicJwk(k.get("jwk"), k.get("alg")));
  }
  const root = { registry: identifier(m.get("registry")), version: integer(m.get("version"), 1), threshold: integer(m.get("threshold"), 1, keys.size), keys };
  for (const [kid, key] of keys) if ((await kidOf(key)) !== kid) throw bad("kid");
  return root;
}

const thresholdMet = (root, kids) => [...kids].filter((kid) => root.keys.has(kid)).length >= root.threshold;

// The newest root reachable from `anchor`: each next version signed by both thresholds.
async function follow(anchor, chain) {
  let current = anchor;
  for (const document of chain) {
    const claimed = content(document);
    const version = isObject(claimed) ? claimed.get("version") : undefined;
    if (!isInt(version)) throw bad("root version");
    if (version <= current.version) continue;
    if (version !== current.version + 1) throw bad("root chain skips a version");
    const next = await rootFromObject(claimed);
    if (next.registry !== current.registry) throw bad("another registry's root");
    const kids = await signedBy(document, new Map([...current.keys, ...next.keys]));
    if (!(thresholdMet(current, kids) && thresholdMet(next, kids))) throw bad("root rotation not signed");
    current = next;
  }
  return current;
}

// _within_capacity, counted before any key is parsed.
function withinCapacity(registry) {
  const [types, agencies] = isObject(registry) ? [registry.get("types"), registry.get("agencies")] : [];
  if (isObject(types) && types.size > MAX_TYPES) throw bad("types");
  if (!isObject(agencies)) return;
  if (agencies.size > MAX_AGENCIES) throw bad("agencies");
  let total = 0;
  for (const agency of agencies.values()) {
    const keys = isObject(agency) ? agency.get("keys") : undefined;
    const count = isObject(keys) ? keys.size : 0;
    if (count > MAX_KEYS_PER_AGENCY) throw bad("keys");
    total += count;
  }
  if (total > MAX_KEYS) throw bad("keys");
}

// The trust anchor (anchor.json, configured by hand) from its text or bytes.
export async function openAnchor(anchor) {
  return rootFromObject(typeof anchor === "string" ? parseText(anchor) : parseStrict(anchor));
}

// open_bundle without a state (the caller refuses older versions): the registry of bundle
// `raw` (bytes) trusted through `anchor` at `now`; registry_stale if expired, unless `allowStale`.
export async function openBundle(raw, anchor, now, allowStale = false) {
  let registry;
  try {
    if (raw.length > MAX_BUNDLE_BYTES) throw bad("bundle size");
    const bundle = members(parseStrict(raw), ["roots", "registry"]);
    const roots = bundle.get("roots");
    if (!Array.isArray(roots) || roots.length > MAX_ROOT_CHAIN) throw bad("roots");
    // The whole form first: nothing is verified or parsed in a bundle of the wrong shape.
    const chain = roots.map((document) => general(document, "root+jws", 2 * MAX_ROOT_KEYS, MAX_ROOT_PAYLOAD));
    const document = general(bundle.get("registry"), "registry+jws", MAX_ROOT_KEYS, MAX_REGISTRY_PAYLOAD);
    const root = await follow(anchor, chain);
    if (!thresholdMet(root, await signedBy(document, root.keys))) throw bad("registry not signed by the threshold");
    const claimed = content(document);
    withinCapacity(claimed);
    registry = await registryFromObject(claimed);
    if (registry.id !== root.registry || !registry.agencies.size || registry.issuedAt > now + ISSUED_AT_LEEWAY) throw bad("registry");
  } catch (error) {
    if ([FieldError, KeyRejected, Malformed, Refusal].some((kind) => error instanceof kind)) throw new RegistryRefused("registry_invalid", error.message);
    throw error;
  }
  if (now >= registry.expiresAt && !allowStale) throw new RegistryRefused("registry_stale", "expired");
  return registry;
}
