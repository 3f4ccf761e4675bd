// The trust registry and the bundle it arrives in, checked as keys/registry.py Registry.from_dict
// and keys/trust.py open_bundle check them: the root chain from the anchor (each new root
// signed by a threshold of the old keys and of its own), the registry signed by a threshold of
// the newest root, every document's form and size bounded before anything is decoded, every
// public key validated, and the registry's own model (types and what they require, agencies,
// their keys under their thumbprint kids). Anything wrong throws RegistryRefused.

import { Malformed, MAX_SAFE_INT, b64urlDecode, isInt, isObject, parseStrict, parseText, utf8 } from "./encoding.js";
import { FieldError, isIdentifier, length, text } from "./text.js";
import { KeyRejected, kidOf, loadPublicJwk, verifySignature } from "./keys.js";

// Why a registry cannot be trusted: `reason` is registry_invalid or registry_stale.
export class RegistryRefused extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}
const invalid = (why) => new RegistryRefused("registry_invalid", `registry not trusted: ${why}`);

const NAME_MAX = 200;
const URL_MAX = 512;
const MAX_VALIDITY_DAYS = 36500;
// 9999-12-31T09:59:59Z: the last time a document may carry (keys/fields.py MAX_TIME).
export const MAX_TIME = 253402300799 - 14 * 3600;
// How far ahead of the verifier's clock a document may say it was issued (keys/fields.py).
export const ISSUED_AT_LEEWAY = 300;

// --- capacity, as keys/trust.py ----------------------------------------------------------------
const MAX_AGENCIES = 5000;
const MAX_KEYS_PER_AGENCY = 8;
const MAX_KEYS = 20000;
const MAX_TYPES = 500;
const MAX_ROOT_KEYS = 16;
const MAX_ROOT_CHAIN = 32;
const b64Length = (size) => Math.floor((4 * size + 2) / 3);
const MAX_REGISTRY_PAYLOAD = b64Length(1024 + MAX_AGENCIES * 512 + MAX_KEYS * 256 + MAX_TYPES * 256);
const MAX_ROOT_PAYLOAD = b64Length(256 + MAX_ROOT_KEYS * 256);
const GENERAL_PROTECTED_MAX = 160;
const SIGNATURE_CHARS = 86;
const SIGNATURE_ENTRY = '{"protected":"","signature":""},'.length + GENERAL_PROTECTED_MAX + SIGNATURE_CHARS;
const SIGNED_DOCUMENT = '{"payload":"","signatures":[]},'.length;
const MAX_ROOT_DOCUMENT = SIGNED_DOCUMENT + MAX_ROOT_PAYLOAD + 2 * MAX_ROOT_KEYS * SIGNATURE_ENTRY;
const MAX_REGISTRY_DOCUMENT = SIGNED_DOCUMENT + MAX_REGISTRY_PAYLOAD + MAX_ROOT_KEYS * SIGNATURE_ENTRY;
export const MAX_BUNDLE_BYTES = '{"registry":,"roots":[]}\n'.length + MAX_ROOT_CHAIN * MAX_ROOT_DOCUMENT + MAX_REGISTRY_DOCUMENT;

// --- field checks, as keys/fields.py -------------------------------------------------------------

// `obj` as an object with all of `required`, some of `optional`, nothing else.
export function members(obj, required, optional = []) {
  if (!isObject(obj)) throw new FieldError("bad", "not an object");
  for (const name of required) if (!obj.has(name)) throw new FieldError("missing", `lacks ${name}`);
  for (const name of obj.keys()) {
    if (!required.includes(name) && !optional.includes(name)) throw new FieldError("bad", `unknown member ${name}`);
  }
  return obj;
}

// An integer in [low, high], never a boolean.
export function integer(value, low = 0, high = MAX_SAFE_INT) {
  if (!isInt(value) || value < low || value > high) throw new FieldError("bad", "not an integer in range");
  return value;
}

// A time in whole seconds from 1970 to MAX_TIME.
export const time = (value) => integer(value, 0, MAX_TIME);

// A lower-case identifier.
export function identifier(value) {
  if (!isIdentifier(value)) throw new FieldError("bad", "not an identifier");
  return value;
}

const names = (obj) => {
  const m = members(obj, ["vi", "en"]);
  return { vi: text(m.get("vi"), NAME_MAX), en: text(m.get("en"), NAME_MAX) };
};

// Python 3.11's urllib.parse.urlsplit, as far as check_url reads it: the scheme and the netloc.
// Where urlsplit raises (an unbalanced or invalid bracketed host, a netloc that NFKC turns into
// URL delimiters) the URL is refused.
function schemeAndNetloc(url) {
  let scheme = "";
  let rest = url;
  const colon = url.indexOf(":");
  if (colon > 0 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    rest = url.slice(colon + 1);
  }
  let netloc = "";
  if (rest.startsWith("//")) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    const open = netloc.includes("[");
    if (open !== netloc.includes("]")) throw new FieldError("bad", "invalid IPv6 URL");
    if (open) {
      const host = netloc.slice(netloc.indexOf("[") + 1).split("]")[0];
      if (host.startsWith("v") ? !/^v[a-fA-F0-9]+\..+$/.test(host) : isIpv4(host) || !isIpv6(host)) {
        throw new FieldError("bad", "invalid bracketed host");
      }
    }
    if (!/^[\x00-\x7f]*$/.test(netloc)) {
      const plain = netloc.replace(/[@:#?]/g, "");
      const compat = plain.normalize("NFKC");
      if (compat !== plain && /[/?#@:]/.test(compat)) throw new FieldError("bad", "netloc changes under NFKC");
    }
  }
  return { scheme, netloc };
}

// Python's ipaddress.IPv4Address.
function isIpv4(text) {
  const octets = text.split(".");
  return octets.length === 4 && octets.every((o) => /^(0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255);
}

// Python's ipaddress.IPv6Address, its scope id included.
function isIpv6(text) {
  if (text.includes("/")) return false;
  const percent = text.indexOf("%");
  const address = percent < 0 ? text : text.slice(0, percent);
  if (percent >= 0 && (percent === text.length - 1 || text.indexOf("%", percent + 1) >= 0)) return false;
  let parts = address.split(":");
  if (parts.length < 3) return false;
  if (parts[parts.length - 1].includes(".")) {
    if (!isIpv4(parts.pop())) return false;
    parts.push("0", "0");
  }
  if (parts.length > 9) return false;
  const skips = parts.slice(1, -1).flatMap((part, i) => (part ? [] : [i + 1]));
  if (skips.length > 1) return false;
  let hi = parts.length;
  let lo = 0;
  if (skips.length) {
    hi = skips[0];
    lo = parts.length - hi - 1;
    if (!parts[0] && --hi) return false;
    if (!parts[parts.length - 1] && --lo) return false;
    if (8 - hi - lo < 1) return false;
  } else if (parts.length !== 8 || !parts[0] || !parts[7]) {
    return false;
  }
  const used = [...parts.slice(0, hi), ...(lo ? parts.slice(-lo) : [])];
  return used.every((part) => /^[0-9a-fA-F]{1,4}$/.test(part));
}

// keys/registry.py check_url: canonical text, an http(s) URL with a host, no space.
function checkUrl(value) {
  const url = text(value, URL_MAX);
  const { scheme, netloc } = schemeAndNetloc(url);
  if ((scheme !== "https" && scheme !== "http") || !netloc || url.includes(" ")) throw new FieldError("bad", "not an http(s) URL");
  return url;
}

function sortedUnique(list) {
  // Python compares strings by code point; these are ASCII identifiers, where that is plain <.
  return list.every((item, i) => i === 0 || list[i - 1] < item);
}

function permitType(code, obj) {
  const m = members(obj, ["name", "max_days"], ["requires"]);
  const requires = m.has("requires") ? m.get("requires") : [];
  if (!Array.isArray(requires) || (m.has("requires") && !requires.length)) throw new FieldError("bad", "requires must be a non-empty list");
  const type = { code, name: names(m.get("name")), maxDays: m.get("max_days"), requires: requires.map(identifier) };
  identifier(code);
  integer(type.maxDays, 1, MAX_VALIDITY_DAYS);
  if (!sortedUnique(type.requires)) throw new FieldError("bad", "required types must be sorted and unique");
  return type;
}

async function agencyKey(agency, kid, obj) {
  const m = members(obj, ["alg", "jwk", "valid_from"], ["retired_at", "retired_reason"]);
  let publicKey;
  try {
    publicKey = loadPublicJwk(m.get("jwk"), m.get("alg"));
  } catch (error) {
    if (error instanceof KeyRejected) throw new FieldError("bad", error.message);
    throw error;
  }
  if ((await kidOf(publicKey)) !== kid) throw new FieldError("bad", "kid is not the thumbprint of the key");
  // A member given as null is absent, as m.get() reads it in Python.
  const retiredAt = m.get("retired_at") ?? null;
  const retiredReason = m.get("retired_reason") ?? null;
  time(m.get("valid_from"));
  if ((retiredAt === null) !== (retiredReason === null)) throw new FieldError("bad", "retired_at and retired_reason go together");
  if (retiredAt !== null) time(retiredAt);
  if (retiredReason !== null && retiredReason !== "superseded" && retiredReason !== "compromised") throw new FieldError("bad", "bad retired_reason");
  return Object.assign(publicKey, { kid, agency, validFrom: m.get("valid_from"), retiredAt, compromised: retiredReason === "compromised" });
}

async function agencyOf(id, obj) {
  const m = members(obj, ["name", "types", "status_url", "keys"]);
  if (!Array.isArray(m.get("types")) || !isObject(m.get("keys"))) throw new FieldError("bad", "types must be a list and keys an object");
  identifier(id);
  const agency = { id, name: names(m.get("name")), types: m.get("types").map(identifier), keys: [] };
  for (const [kid, key] of m.get("keys")) agency.keys.push(await agencyKey(id, kid, key));
  if (!agency.types.length) throw new FieldError("bad", "an agency must be allowed at least one type");
  if (!sortedUnique(agency.types)) throw new FieldError("bad", "types must be sorted and unique");
  agency.statusUrl = checkUrl(m.get("status_url"));
  return agency;
}

// Every required type exists and no type rests on itself, however indirectly.
function checkRequirements(types) {
  for (const type of types.values()) {
    for (const required of type.requires) if (!types.has(required)) throw new FieldError("bad", "requires an unknown type");
  }
  const done = new Set();
  const visit = (code, path) => {
    if (path.includes(code)) throw new FieldError("bad", "types require each other in a cycle");
    if (done.has(code)) return;
    for (const required of types.get(code).requires) visit(required, [...path, code]);
    done.add(code);
  };
  for (const code of types.keys()) visit(code, []);
}

// keys/registry.py Registry.from_dict: the registry model, every member checked, keys by kid.
// Throws FieldError.
export async function registryFromObject(obj) {
  const m = members(obj, ["registry", "name", "version", "issued_at", "expires_at", "types", "agencies"]);
  if (!isObject(m.get("types")) || !isObject(m.get("agencies"))) throw new FieldError("bad", "types and agencies must be objects");
  const types = new Map();
  for (const [code, type] of m.get("types")) types.set(code, permitType(code, type));
  const agencies = new Map();
  for (const [id, agency] of m.get("agencies")) agencies.set(id, await agencyOf(id, agency));
  const registry = {
    id: identifier(m.get("registry")),
    name: text(m.get("name"), NAME_MAX),
    version: integer(m.get("version")),
    issuedAt: time(m.get("issued_at")),
    expiresAt: time(m.get("expires_at")),
    types,
    agencies,
    keys: new Map(),
  };
  checkRequirements(types);
  for (const agency of agencies.values()) {
    for (const code of agency.types) if (!types.has(code)) throw new FieldError("bad", "an agency may issue an unknown type");
    for (const key of agency.keys) {
      if (registry.keys.has(key.kid)) throw new FieldError("bad", "a kid appears twice in the registry");
      registry.keys.set(key.kid, key);
    }
  }
  return registry;
}

// --- signed documents: the general JWS JSON serialization (keys/jws.py parse_general) ----------

function decodeHeader(segment) {
  if (length(segment) > 512) throw new Malformed("header too large");
  const header = parseStrict(b64urlDecode(segment));
  if (!isObject(header)) throw new Malformed("header is not an object");
  return header;
}

// The form of a general-JSON JWS, without any cryptography. Throws RegistryRefused.
function general(document, typ, maxSignatures, maxPayload) {
  if (!isObject(document) || document.size !== 2 || !document.has("payload") || !document.has("signatures")) throw invalid("signed document must have exactly payload and signatures");
  const payload = document.get("payload");
  const entries = document.get("signatures");
  if (typeof payload !== "string" || !Array.isArray(entries) || !entries.length) throw invalid("signed document is malformed");
  if (length(payload) > maxPayload || !/^[\x00-\x7f]*$/.test(payload)) throw invalid("payload too large or not ASCII");
  if (entries.length > maxSignatures) throw invalid("too many signatures");
  const signatures = [];
  for (const entry of entries) {
    if (!isObject(entry) || entry.size !== 2 || !entry.has("protected") || !entry.has("signature")) throw invalid("each signature must have exactly protected and signature");
    const protectedHeader = entry.get("protected");
    const signature = entry.get("signature");
    if (typeof protectedHeader !== "string" || typeof signature !== "string") throw invalid("signature entry is malformed");
    if (length(protectedHeader) > GENERAL_PROTECTED_MAX || length(signature) !== SIGNATURE_CHARS) throw invalid("signature entry of the wrong size");
    let header;
    let bytes;
    try {
      header = decodeHeader(protectedHeader);
      bytes = b64urlDecode(signature);
    } catch {
      throw invalid("signature entry is not canonical");
    }
    if (header.size !== 3 || !header.has("alg") || !header.has("kid") || !header.has("typ")) throw invalid("signature header must have exactly alg, kid and typ");
    if (header.get("typ") !== typ) throw invalid("signature made for another kind of document");
    const alg = header.get("alg");
    const kid = header.get("kid");
    if (typeof alg !== "string" || typeof kid !== "string") throw invalid("signature header alg and kid must be strings");
    signatures.push({ alg, kid, protectedHeader, signature: bytes });
  }
  if (new Set(signatures.map((s) => s.kid)).size !== signatures.length) throw invalid("a key signs more than once");
  return { payload, signatures };
}

// The kids of `keys` (a Map) whose signatures over `document` verify (keys/jws.py verify_general).
async function signedBy(document, keys) {
  if (document.signatures.length > keys.size) throw invalid("more signatures than keys");
  const kids = new Set();
  for (const entry of document.signatures) {
    const key = keys.get(entry.kid);
    if (!key || key.alg !== entry.alg) continue;
    if (await verifySignature(key, entry.signature, utf8.encode(`${entry.protectedHeader}.${document.payload}`))) kids.add(entry.kid);
  }
  return kids;
}

function content(document) {
  try {
    return parseStrict(b64urlDecode(document.payload));
  } catch {
    throw invalid("payload is not strict JSON");
  }
}

// keys/trust.py Root.from_dict: a root's keys and threshold. Throws FieldError.
export async function rootFromObject(obj) {
  const m = members(obj, ["registry", "version", "threshold", "keys"]);
  if (!isObject(m.get("keys"))) throw new FieldError("bad", "root keys must be an object");
  const count = m.get("keys").size;
  if (!(count > 0 && count <= MAX_ROOT_KEYS)) throw new FieldError("bad", "a root needs 1 to 16 keys");
  const keys = new Map();
  for (const [kid, entry] of m.get("keys")) {
    const k = members(entry, ["alg", "jwk"]);
    try {
      keys.set(kid, loadPublicJwk(k.get("jwk"), k.get("alg")));
    } catch (error) {
      if (error instanceof KeyRejected) throw new FieldError("bad", error.message);
      throw error;
    }
  }
  const root = { registry: identifier(m.get("registry")), version: integer(m.get("version"), 1), threshold: integer(m.get("threshold"), 1, keys.size), keys };
  for (const [kid, key] of keys) if ((await kidOf(key)) !== kid) throw new FieldError("bad", "root kid is not the thumbprint of the key");
  return root;
}

const thresholdMet = (root, kids) => [...kids].filter((kid) => root.keys.has(kid)).length >= root.threshold;

// Walk the root chain from `anchor` to the newest root reachable by valid rotations.
async function follow(anchor, chain) {
  let current = anchor;
  for (const document of chain) {
    const claimed = content(document);
    const version = isObject(claimed) ? claimed.get("version") : undefined;
    if (!isInt(version)) throw invalid("root document has no version");
    if (version <= current.version) continue;
    if (version !== current.version + 1) throw invalid("root chain skips a version");
    let next;
    try {
      next = await rootFromObject(claimed);
    } catch (error) {
      if (error instanceof FieldError) throw invalid(`root document: ${error.message}`);
      throw error;
    }
    if (next.registry !== current.registry) throw invalid("root chain belongs to another registry");
    const kids = await signedBy(document, new Map([...current.keys, ...next.keys]));
    if (!(thresholdMet(current, kids) && thresholdMet(next, kids))) throw invalid("root rotation not signed by both thresholds");
    current = next;
  }
  return current;
}

function withinCapacity(registry) {
  if (!isObject(registry)) return;
  const types = registry.get("types");
  const agencies = registry.get("agencies");
  if (isObject(types) && types.size > MAX_TYPES) throw invalid("too many permit types");
  if (!isObject(agencies)) return;
  if (agencies.size > MAX_AGENCIES) throw invalid("too many agencies");
  let total = 0;
  for (const agency of agencies.values()) {
    const keys = isObject(agency) ? agency.get("keys") : undefined;
    const count = isObject(keys) ? keys.size : 0;
    if (count > MAX_KEYS_PER_AGENCY) throw invalid("an agency has too many keys");
    total += count;
  }
  if (total > MAX_KEYS) throw invalid("too many agency keys");
}

// The trust anchor (anchor.json: a root document, configured by hand) from its text or bytes.
export async function openAnchor(anchor) {
  const obj = typeof anchor === "string" ? parseText(anchor) : parseStrict(anchor);
  return rootFromObject(obj);
}

// keys/trust.py open_bundle without a state (no rollback check: the caller keeps versions):
// the registry of bundle `raw` (bytes), trusted through `anchor` (from openAnchor) at `now`.
// An expired registry is refused (registry_stale) unless `allowStale`. Throws RegistryRefused.
export async function openBundle(raw, anchor, now, allowStale = false) {
  if (raw.length > MAX_BUNDLE_BYTES) throw invalid("bundle too large");
  let bundle;
  try {
    bundle = members(parseStrict(raw), ["roots", "registry"]);
  } catch (error) {
    if (error instanceof Malformed || error instanceof FieldError) throw invalid(error.message);
    throw error;
  }
  const roots = bundle.get("roots");
  if (!Array.isArray(roots)) throw invalid("roots must be a list");
  if (roots.length > MAX_ROOT_CHAIN) throw invalid("root chain too long");
  const chain = roots.map((document) => general(document, "root+jws", 2 * MAX_ROOT_KEYS, MAX_ROOT_PAYLOAD));
  const document = general(bundle.get("registry"), "registry+jws", MAX_ROOT_KEYS, MAX_REGISTRY_PAYLOAD);
  const root = await follow(anchor, chain);
  if (!thresholdMet(root, await signedBy(document, root.keys))) throw invalid("registry not signed by the root threshold");
  const claimed = content(document);
  withinCapacity(claimed);
  let registry;
  try {
    registry = await registryFromObject(claimed);
  } catch (error) {
    if (error instanceof FieldError) throw invalid(error.message);
    throw error;
  }
  if (registry.id !== root.registry) throw invalid("registry id does not match the root");
  if (!registry.agencies.size) throw invalid("registry authorises no agency");
  if (registry.issuedAt > now + ISSUED_AT_LEEWAY) throw invalid("registry issued in the future");
  if (now >= registry.expiresAt && !allowStale) throw new RegistryRefused("registry_stale", "registry has expired");
  return registry;
}
