// The permit verifier in the browser: verifier/pipeline.py with WebCrypto and
// DecompressionStream, nothing else; the token never leaves the page. Same rules, order and
// reason codes as the server (docs/token-profile.md §6); the verdict is Verdict.to_dict().
//
//   import { openTrust, verify, features, Unsupported } from "/static/check/verify.js";
//
//   const trust = await openTrust(anchor, bundle, lists, now, { allowStale: false });
//     anchor      anchor.json's text or bytes, configured with the page (malformed: throws)
//     bundle      the registry bundle (GET /api/v1/registry), bytes or text
//     lists       { agency: status list token } (GET /api/v1/status/<agency>)
//     now         whole seconds since 1970: the caller reads the clock
//     allowStale  keep a registry already expired (verdicts then say registry_stale, as the
//                 server's for a registry it held); by default it is refused, registry_stale
//   trust.registry (null if refused), trust.problem (registry_invalid, registry_stale or null),
//   trust.version, trust.expiresAt, trust.lists (Map agency → list), trust.listProblems
//   ({ agency: reason }, as the server's healthz; "legacy_status_list" for the format before
//   2027-03-01, not read here). trust.putStatusList(agency, token, now) → null when held, else
//   the reason; an older list than the one held is ignored. Rollback is the caller's: it keeps
//   the version it accepted and opens no older bundle.
//
//   const verdict = await verify(token, trust, now, { grace: 0 });
//     The server's verdict, member for member: { valid, status, reasons, checked_at,
//     registry_version, permit?, superseded_by?, basis?, issuer? }; never throws for a token.
//     Without a registry: status_unknown with trust.problem. `grace`: seconds a list or the
//     registry is still fresh past its expiry (the server's GRACE).
//
//   Both throw Unsupported (`feature`: webcrypto, ed25519, es256, decompression,
//   legacy_status_list) when this browser cannot check: the page asks the API then.
//   await features() → { webcrypto, ed25519, es256, deflate }, found by trying each.

import { Malformed, parseStrict, utf8 } from "./encoding.js";
import { Unsupported, features, verifySignature } from "./keys.js";
import { Refusal, checkHeader, decodeHeader, segmentBytes, splitCompact } from "./jws.js";
import { RegistryRefused, openAnchor, openBundle } from "./registry.js";
import { openStatusList, usableAt } from "./status.js";
import { FieldError } from "./text.js";
import { inflateClaims } from "./inflate.js";
import { permitFromClaims } from "./permit.js";

export { Unsupported, features };

// Clock difference tolerated between issuer and verifier, in seconds.
export const LEEWAY = 60;
const DAY = 86400;
const MAX_TOKEN_LENGTH = 2048;
const PERMIT_TYPES = ["permit+jws", "permit+jwt"];
const PERMIT_HEADER_MEMBERS = ["alg", "kid", "typ", "zip"];
const FIELD_REASON = { missing: "missing_claim", bad: "bad_claim", text: "non_canonical_text" };
const STATUS_REASON = { 1: "revoked", 2: "suspended", 3: "superseded" };
// A basis's status: [its state, what it makes the permit].
const BASIS_OF_STATUS = { 0: ["valid", null], 3: ["amended", null], 1: ["revoked", "basis_revoked"], 2: ["suspended", "basis_suspended"] };
const STATUS_OF_REASON = {
  revoked: "revoked",
  suspended: "suspended",
  superseded: "superseded",
  expired: "expired",
  not_yet_valid: "not_yet_valid",
  status_unavailable: "status_unknown",
  status_stale: "status_unknown",
  registry_stale: "status_unknown",
  registry_invalid: "status_unknown",
  registry_rollback: "status_unknown",
  registry_unavailable: "status_unknown",
  basis_revoked: "revoked",
  basis_suspended: "suspended",
  basis_status_unavailable: "status_unknown",
  basis_status_stale: "status_unknown",
};
const STATUS_PRIORITY = ["invalid", "revoked", "suspended", "superseded", "expired", "not_yet_valid", "status_unknown"];

// The verdict's status for its reasons (verdict.py status_for).
export function statusFor(reasons) {
  if (!reasons.length) return "valid";
  const found = new Set(reasons.map((reason) => STATUS_OF_REASON[reason] || "invalid"));
  return STATUS_PRIORITY.find((status) => found.has(status));
}

// RFC 3339 in UTC, whole seconds (verdict.py iso).
export const iso = (seconds) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

const namesOf = (names) => ({ vi: names.vi, en: names.en });

function bytesOf(data) {
  return typeof data === "string" ? utf8.encode(data) : data;
}

// See the API above.
export async function openTrust(anchor, bundle, lists = {}, now, { allowStale = false } = {}) {
  const found = await features();
  if (!found.webcrypto) throw new Unsupported("webcrypto");
  if (!found.deflate) throw new Unsupported("decompression");
  const root = await openAnchor(anchor);
  const trust = { registry: null, problem: null, version: null, expiresAt: null, lists: new Map(), listProblems: {}, legacy: new Set() };
  try {
    trust.registry = await openBundle(bytesOf(bundle), root, now, allowStale);
    trust.version = trust.registry.version;
    trust.expiresAt = trust.registry.expiresAt;
  } catch (error) {
    if (!(error instanceof RegistryRefused)) throw error;
    trust.problem = error.reason;
  }
  trust.putStatusList = (agency, token, at) => putStatusList(trust, agency, token, at);
  if (trust.registry) {
    for (const [agency, token] of Object.entries(lists)) await putStatusList(trust, agency, token, now);
  }
  return trust;
}

// Hold one agency's list if it verifies, as the server's store does: null, or the reason.
async function putStatusList(trust, agency, token, now) {
  if (!trust.registry) return trust.problem;
  if (!trust.registry.agencies.has(agency)) return "unknown_issuer";
  let opened;
  try {
    // The file form: one trailing newline, nothing else stripped (token_from_bytes).
    if (typeof token !== "string") token = new TextDecoder().decode(token);
    if (token.endsWith("\n")) token = token.slice(0, -1);
    if (!/^[\x00-\x7f]*$/.test(token)) throw new Refusal("malformed_token");
    opened = await openStatusList(token, trust.registry, agency, now);
  } catch (error) {
    const reason = error instanceof Refusal ? error.reason : error instanceof Unsupported ? error.feature : null;
    if (reason === null) throw error;
    if (reason === "legacy_status_list") trust.legacy.add(agency);
    trust.listProblems[agency] = reason;
    return reason;
  }
  const held = trust.lists.get(agency);
  if (!held || opened.issuedAt >= held.issuedAt) {
    trust.lists.set(agency, opened);
    trust.legacy.delete(agency);
    delete trust.listProblems[agency];
  }
  return null;
}

// A refusal before the permit could be read: nothing of the token is shown.
const refused = (reason, now, version) => ({ valid: false, status: "invalid", reasons: [reason], checked_at: iso(now), registry_version: version });

// See the API above.
export async function verify(token, trust, now, { grace = 0 } = {}) {
  const registry = trust.registry;
  if (!registry) {
    const reasons = [trust.problem || "registry_unavailable"];
    return { valid: false, status: statusFor(reasons), reasons, checked_at: iso(now), registry_version: null };
  }
  const version = registry.version;
  let alg, kid, zip, headerB64, payloadB64, signatureB64, payload, signature;
  try {
    [headerB64, payloadB64, signatureB64] = splitCompact(token, MAX_TOKEN_LENGTH);
    const header = decodeHeader(headerB64);
    [alg, kid] = checkHeader(header, PERMIT_TYPES, PERMIT_HEADER_MEMBERS);
    zip = header.get("zip");
    if (zip !== "DEFv1" && zip !== "DEFv2") throw new Refusal("unsupported_header");
    payload = segmentBytes(payloadB64);
    signature = segmentBytes(signatureB64);
  } catch (error) {
    if (error instanceof Refusal) return refused(error.reason, now, version);
    throw error;
  }
  const key = registry.keys.get(kid);
  if (!key) return refused("unknown_key", now, version);
  if (key.alg !== alg) return refused("algorithm_mismatch", now, version);
  if (!(await verifySignature(key, signature, utf8.encode(`${headerB64}.${payloadB64}`)))) return refused("bad_signature", now, version);

  // The bytes are the issuer's; now they may be read.
  let permit;
  try {
    permit = permitFromClaims(parseStrict(await inflateClaims(payload, zip)));
  } catch (error) {
    if (error instanceof FieldError) return refused(FIELD_REASON[error.problem], now, version);
    if (error instanceof Malformed) return refused("malformed_token", now, version);
    throw error;
  }
  const agency = registry.agencies.get(permit.agency);
  if (!agency) return refused("unknown_issuer", now, version);
  if (key.agency !== permit.agency) return refused("issuer_key_mismatch", now, version);
  if (key.compromised) return refused("key_compromised", now, version);
  if (!usableAt(key, permit.issuedAt)) return refused("key_not_valid_at_issue", now, version);
  const permitType = registry.types.get(permit.type);
  if (!permitType || !agency.types.includes(permit.type)) return refused("not_authorised_for_type", now, version);
  if (permit.validUntil - permit.validFrom > permitType.maxDays * DAY) return refused("bad_claim", now, version);
  if (permit.issuedAt > now + LEEWAY) return refused("issued_in_future", now, version);

  const reasons = [];
  if (now >= permit.validUntil + LEEWAY) reasons.push("expired");
  else if (now + LEEWAY < permit.validFrom) reasons.push("not_yet_valid");

  const list = heldList(trust, permit.agency);
  const status = list ? list.status(permit.statusIndex) : null;
  if (status === null) reasons.push("status_unavailable");
  else if (now - grace >= list.expiresAt) reasons.push(status === 1 ? "revoked" : "status_stale");
  else if (status) reasons.push(STATUS_REASON[status]);

  const basis = permit.basis.map((ref) => basisState(ref, trust, now - grace));
  for (const state of basis) if (state.reason && !reasons.includes(state.reason)) reasons.push(state.reason);

  if (now >= registry.expiresAt + grace) reasons.push("registry_stale");
  return verdict(reasons, now, version, permit, agency, permitType, basis);
}

// The list held for `agency`; Unsupported for a legacy one (which the server reads).
function heldList(trust, agency) {
  if (trust.legacy.has(agency)) throw new Unsupported("legacy_status_list");
  return trust.lists.get(agency) || null;
}

// The state of basis `ref`, from the registry and its issuer's list (pipeline.py _basis_state).
function basisState(ref, trust, staleAt) {
  const registry = trust.registry;
  const agency = registry.agencies.get(ref.agency) || null;
  const permitType = registry.types.get(ref.type) || null;
  const state = (name, reason) => ({ ref, state: name, reason, agency, permitType });
  if (!agency || !permitType || !agency.types.includes(ref.type)) return state("invalid", "basis_invalid");
  const list = heldList(trust, ref.agency);
  const status = list ? list.status(ref.statusIndex) : null;
  if (status === null) return state("status_unknown", "basis_status_unavailable");
  if (staleAt >= list.expiresAt && status !== 1) return state("status_unknown", "basis_status_stale");
  return state(...BASIS_OF_STATUS[status]);
}

// Verdict.to_dict() showing the permit, members in the same order.
function verdict(reasons, now, version, permit, agency, permitType, basis) {
  const status = statusFor(reasons);
  const holder = { id: permit.holderId, name: permit.holderName };
  if (permit.holderAddress !== null) holder.address = permit.holderAddress;
  const out = {
    valid: status === "valid",
    status,
    reasons,
    checked_at: iso(now),
    registry_version: version,
    permit: {
      id: permit.id,
      version: permit.version,
      number: permit.number,
      type: { code: permit.type, name: namesOf(permitType.name) },
      holder,
      activities: permit.activities,
      conditions: permit.conditions,
      issued_at: iso(permit.issuedAt),
      valid_from: iso(permit.validFrom),
      valid_until: iso(permit.validUntil),
    },
  };
  if (status === "superseded") out.superseded_by = { id: permit.id, min_version: permit.version + 1 };
  if (basis.length) {
    out.basis = basis.map(({ ref, state, agency: issuer, permitType: type }) => ({
      id: ref.id,
      type: type ? { code: ref.type, name: namesOf(type.name) } : { code: ref.type },
      issuer: issuer ? issuerOf(issuer) : { id: ref.agency },
      state,
    }));
  }
  out.issuer = issuerOf(agency);
  return out;
}

// An agency as a verdict names it, with its contact when the registry gives one (verdict.py _issuer_dict).
function issuerOf(agency) {
  const out = { id: agency.id, name: namesOf(agency.name) };
  if (agency.contact) out.contact = { ...agency.contact };
  return out;
}
