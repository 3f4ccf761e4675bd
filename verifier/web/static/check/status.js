// Status lists (Token Status List JWTs, 2 bits per permit), opened as permits/status_list.py
// open_status_list: one of the agency's keys, the signature before the claims, `sub` the
// registry's status_url, the array inflated to at most MAX_SIZE entries.

import { Malformed, b64urlDecode, isInt, isObject, parseStrict, utf8 } from "./encoding.js";
import { Unsupported, verifySignature } from "./keys.js";
import { ISSUED_AT_LEEWAY, MAX_TIME } from "./registry.js";
import { Refusal, checkHeader, decodeHeader, segmentBytes, splitCompact } from "./jws.js";
import { inflateZlib } from "./inflate.js";
import { length } from "./text.js";

export const MIN_SIZE = 131072;
export const MAX_SIZE = 1 << 26;
const MAX_STATUS_TOKEN_LENGTH = 8 * 1024 * 1024;
const SIGNATURE_CHARS = 86;
const HEADER_MEMBERS = ["alg", "kid", "typ"];
// 2027-03-01: the server reads lists in the format before until then.
export const LEGACY_ACCEPTED_UNTIL = 1803859200;
const LEGACY_HEADER_MEMBERS = ["alg", "kid", "typ", "iss", "iat", "exp", "size"];

// Whether `key` could sign something dated `at` (compromise aside).
export const usableAt = (key, at) => at >= key.validFrom && (key.retiredAt === null || at < key.retiredAt);

// The key `kid` if it is `agency`'s, for `alg`, not compromised.
function agencyKey(registry, kid, alg, agency) {
  const key = registry.keys.get(kid);
  if (!key) throw new Refusal("unknown_key");
  if (key.agency !== agency) throw new Refusal("issuer_key_mismatch");
  if (key.alg !== alg) throw new Refusal("algorithm_mismatch");
  if (key.compromised) throw new Refusal("key_compromised");
  return key;
}

function timeClaim(claims, name) {
  if (!claims.has(name)) throw new Refusal("missing_claim");
  const value = claims.get(name);
  if (!isInt(value) || value < 0 || value > MAX_TIME) throw new Refusal("bad_claim");
  return value;
}

// _check_claims: [iat, exp, ttl or null, lst].
function checkClaims(claims, registry, agency, now) {
  if (!claims.has("sub")) throw new Refusal("missing_claim");
  const expected = registry.agencies.has(agency) ? registry.agencies.get(agency).statusUrl : null;
  if (claims.get("sub") !== expected) throw new Refusal("bad_claim");
  if (claims.has("iss") && claims.get("iss") !== agency) throw new Refusal("issuer_key_mismatch");
  if (claims.has("aud")) throw new Refusal("bad_claim");
  const iat = timeClaim(claims, "iat");
  const exp = timeClaim(claims, "exp");
  if (!(iat < exp)) throw new Refusal("bad_claim");
  if (claims.has("nbf") && timeClaim(claims, "nbf") > now + ISSUED_AT_LEEWAY) throw new Refusal("not_yet_valid");
  const ttl = claims.has("ttl") ? claims.get("ttl") : 0;
  if (claims.has("ttl") && !(isInt(ttl) && ttl > 0 && ttl <= MAX_TIME)) throw new Refusal("bad_claim");
  if (!claims.has("status_list")) throw new Refusal("missing_claim");
  const list = claims.get("status_list");
  if (!isObject(list) || !list.has("bits") || !list.has("lst")) throw new Refusal(isObject(list) ? "missing_claim" : "bad_claim");
  if (list.get("bits") !== 2) throw new Refusal("bad_claim");
  if (typeof list.get("lst") !== "string") throw new Refusal("bad_claim");
  return [iat, exp, ttl || null, list.get("lst")];
}

// `agency`'s list verified against the registry at `now` (expiry aside: a stale list is kept):
// {agency, issuedAt, expiresAt, size, ttl, status(index)}; Refusal, or Unsupported for the
// legacy format the server still reads.
export async function openStatusList(token, registry, agency, now) {
  const [headerB64, payloadB64, signatureB64] = splitCompact(token, MAX_STATUS_TOKEN_LENGTH);
  const header = decodeHeader(headerB64);
  const names = [...header.keys()];
  if (now < LEGACY_ACCEPTED_UNTIL && names.some((n) => !HEADER_MEMBERS.includes(n)) && names.every((n) => LEGACY_HEADER_MEMBERS.includes(n))) {
    throw new Unsupported("legacy_status_list");
  }
  if (length(signatureB64) > SIGNATURE_CHARS) throw new Refusal("token_too_large");
  const payload = segmentBytes(payloadB64);
  const signature = segmentBytes(signatureB64);
  const [alg, kid] = checkHeader(header, ["statuslist+jwt"], HEADER_MEMBERS);
  const key = agencyKey(registry, kid, alg, agency);
  if (!(await verifySignature(key, signature, utf8.encode(`${headerB64}.${payloadB64}`)))) throw new Refusal("bad_signature");
  let claims;
  try {
    claims = parseStrict(payload);
  } catch {
    throw new Refusal("malformed_token");
  }
  if (!isObject(claims)) throw new Refusal("malformed_token");
  const [iat, exp, ttl, lst] = checkClaims(claims, registry, agency, now);
  if (!usableAt(key, iat)) throw new Refusal("key_not_valid_at_issue");
  if (iat > now + ISSUED_AT_LEEWAY) throw new Refusal("issued_in_future");
  let bits;
  try {
    bits = await inflateZlib(b64urlDecode(lst), MAX_SIZE / 4);
  } catch (error) {
    if (error instanceof Malformed) throw new Refusal("malformed_token");
    throw error;
  }
  if (bits.length * 4 < MIN_SIZE) throw new Refusal("malformed_token");
  const size = bits.length * 4;
  return {
    agency,
    issuedAt: iat,
    expiresAt: exp,
    size,
    ttl,
    // The 2-bit status at `index`, or null outside the list.
    status: (index) => (index >= 0 && index < size ? (bits[index >> 2] >> ((index & 3) * 2)) & 3 : null),
  };
}
