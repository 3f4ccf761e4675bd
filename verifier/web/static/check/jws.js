// Compact JWS in the strict profile (keys/jws.py): the form only; the key and algorithm come
// from the registry, never from the header.

import { Malformed, b64urlDecode, isObject, parseStrict } from "./encoding.js";
import { ALGORITHMS } from "./keys.js";
import { length } from "./text.js";

// A document refused, with its reason code.
export class Refusal extends Error {
  constructor(reason, message = reason) {
    super(message);
    this.reason = reason;
  }
}

const MAX_KID_LENGTH = 64;
const HEADER_MAX = 512;

// split_compact: three non-empty segments (malformed_token), at most `maxLength` code points
// (token_too_large). Nothing is trimmed.
export function splitCompact(token, maxLength) {
  if (typeof token !== "string") throw new Refusal("malformed_token");
  if (token.length > maxLength && (token.length > 2 * maxLength || length(token) > maxLength)) throw new Refusal("token_too_large");
  // Dots found before splitting: a run of them would make millions of strings.
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  if (first < 0 || second < 0 || token.indexOf(".", second + 1) >= 0) throw new Refusal("malformed_token");
  const parts = [token.slice(0, first), token.slice(first + 1, second), token.slice(second + 1)];
  if (!parts.every(Boolean)) throw new Refusal("malformed_token");
  return parts;
}

// decode_header: canonical base64url of a strict JSON object, ≤ 512 characters; else malformed_token.
export function decodeHeader(segment) {
  try {
    if (length(segment) > HEADER_MAX) throw new Malformed("header");
    const header = parseStrict(b64urlDecode(segment));
    if (isObject(header)) return header;
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
  }
  throw new Refusal("malformed_token");
}

// check_header: members from `allowed` (unsupported_header), typ one of `types` (wrong_type),
// alg EdDSA or ES256 (unsupported_header), kid 1 to 64 characters (malformed_token). [alg, kid].
export function checkHeader(header, types, allowed) {
  for (const name of header.keys()) if (!allowed.includes(name)) throw new Refusal("unsupported_header");
  const typ = header.get("typ");
  if (typeof typ !== "string" || !types.includes(typ)) throw new Refusal("wrong_type");
  const alg = header.get("alg");
  if (!ALGORITHMS.includes(alg)) throw new Refusal("unsupported_header");
  const kid = header.get("kid");
  if (typeof kid !== "string" || !(length(kid) > 0 && length(kid) <= MAX_KID_LENGTH)) throw new Refusal("malformed_token");
  return [alg, kid];
}

// A segment's bytes; malformed_token unless canonical base64url.
export function segmentBytes(segment) {
  try {
    return b64urlDecode(segment);
  } catch {
    throw new Refusal("malformed_token");
  }
}
