// Compact JWS in the project's strict profile (keys/jws.py): the form is established here, and
// which key and algorithm apply is decided by the caller from the registry, never the header.

import { Malformed, b64urlDecode, isObject, parseStrict } from "./encoding.js";
import { ALGORITHMS } from "./keys.js";
import { length } from "./text.js";

// A document refused, with the verdict reason code that says why.
export class Refusal extends Error {
  constructor(reason, message = reason) {
    super(message);
    this.reason = reason;
  }
}

const MAX_KID_LENGTH = 64;
const HEADER_MAX = 512;

// The three segments of a compact JWS, after the size cap and the form checks (split_compact):
// token_too_large beyond `maxLength` code points, malformed_token unless exactly three
// non-empty segments. Nothing is trimmed.
export function splitCompact(token, maxLength) {
  if (typeof token !== "string") throw new Refusal("malformed_token");
  // Code points, as Python counts: only a token long in UTF-16 units needs counting.
  if (token.length > maxLength && length(token) > maxLength) throw new Refusal("token_too_large");
  // The dots are found before splitting: a long run of them would become millions of strings.
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  if (first < 0 || second < 0 || token.indexOf(".", second + 1) >= 0) throw new Refusal("malformed_token");
  const parts = [token.slice(0, first), token.slice(first + 1, second), token.slice(second + 1)];
  if (!parts.every(Boolean)) throw new Refusal("malformed_token");
  return parts;
}

// A protected header segment: canonical base64url of a strict JSON object, at most 512
// characters (decode_header). Throws Refusal(malformed_token).
export function decodeHeader(segment) {
  try {
    if (length(segment) > HEADER_MAX) throw new Malformed("header too large");
    const header = parseStrict(b64urlDecode(segment));
    if (isObject(header)) return header;
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
  }
  throw new Refusal("malformed_token");
}

// The header profile of one kind of document (check_header): members only from `allowed`
// (unsupported_header), typ one of `types` (wrong_type), alg EdDSA or ES256
// (unsupported_header), kid a string of 1 to 64 characters (malformed_token). Returns [alg, kid].
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

// The bytes of a base64url segment; Refusal(malformed_token) unless canonical.
export function segmentBytes(segment) {
  try {
    return b64urlDecode(segment);
  } catch {
    throw new Refusal("malformed_token");
  }
}
