// The two signature algorithms, their public JWKs and their key checks, as keys/algorithms.py:
// EdDSA (Ed25519) and ES256 (ECDSA P-256, signatures as raw r‖s, which is what WebCrypto's
// ECDSA verify takes). Keys are checked here on their numbers (small-order Ed25519 points,
// P-256 points off the curve or with non-canonical coordinates); WebCrypto only verifies.

import { Malformed, b64urlDecode, b64urlEncode, utf8 } from "./encoding.js";

export const ALGORITHMS = ["EdDSA", "ES256"];
// A kid is the RFC 7638 thumbprint cut to this many characters.
export const KID_LENGTH = 12;

// What this module cannot check, so the page must ask the API instead (and say so in small
// print): `feature` is "webcrypto" (none, or not a secure context), "ed25519", "es256",
// "decompression" (no DecompressionStream), or "legacy_status_list" (a list in the format
// before 2027-03-01, which needs bzip2: not read here).
export class Unsupported extends Error {
  constructor(feature) {
    super(`not checked in this browser: ${feature}`);
    this.feature = feature;
  }
}

// A JWK that is not an acceptable public key (keys/algorithms.py KeyRejected).
export class KeyRejected extends Error {}

const SECRET_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const ADVISORY_MEMBERS = ["alg", "use", "kid", "key_ops"];
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_PRIME = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

const subtle = () => {
  if (!globalThis.crypto || !globalThis.crypto.subtle) throw new Unsupported("webcrypto");
  return globalThis.crypto.subtle;
};

// SHA-256 of `bytes`.
export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest("SHA-256", bytes));
}

// Which of the features the check needs this browser has, found by using them (never by name):
// {webcrypto, ed25519, es256, deflate}. Ed25519 is the one older browsers lack.
export async function features() {
  const found = { webcrypto: false, ed25519: false, es256: false, deflate: false };
  try {
    found.deflate = typeof DecompressionStream === "function" && Boolean(new DecompressionStream("deflate-raw"));
  } catch {
    found.deflate = false;
  }
  if (!globalThis.crypto || !globalThis.crypto.subtle) return found;
  found.webcrypto = true;
  const base = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" };
  try {
    await crypto.subtle.importKey("jwk", base, { name: "Ed25519" }, false, ["verify"]);
    found.ed25519 = true;
  } catch {
    found.ed25519 = false;
  }
  try {
    // the curve's generator, and RFC 8037's example Ed25519 key above
    const p256 = { kty: "EC", crv: "P-256", x: "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", y: "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU" };
    await crypto.subtle.importKey("jwk", p256, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    found.es256 = true;
  } catch {
    found.es256 = false;
  }
  return found;
}

function expectMembers(jwk, required) {
  for (const name of required) if (!jwk.has(name)) throw new KeyRejected(`the JWK lacks ${name}`);
  for (const name of jwk.keys()) {
    if (!required.includes(name) && !ADVISORY_MEMBERS.includes(name)) throw new KeyRejected(`the JWK has unexpected member ${name}`);
  }
}

function coordinate(jwk, name) {
  let raw;
  try {
    raw = b64urlDecode(jwk.get(name));
  } catch {
    throw new KeyRejected(`JWK member ${name} is not canonical base64url`);
  }
  if (raw.length !== 32) throw new KeyRejected(`JWK member ${name} must be 32 bytes`);
  return raw;
}

const bigEndian = (bytes) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

// A validated public key for `alg` from `jwk` (a Map from parseStrict), as load_public_jwk:
// {alg, jwk (its required members only), x, y}. Throws KeyRejected.
export function loadPublicJwk(jwk, alg) {
  if (!ALGORITHMS.includes(alg)) throw new KeyRejected(`algorithm ${alg} is not allowed`);
  if (!(jwk instanceof Map) || ![...jwk.values()].every((v) => typeof v === "string")) throw new KeyRejected("a JWK must be an object of strings");
  if (SECRET_MEMBERS.some((name) => jwk.has(name))) throw new KeyRejected("the JWK holds private or symmetric key material");
  if ((jwk.has("use") ? jwk.get("use") : "sig") !== "sig") throw new KeyRejected("the JWK is not a signing key");
  if ((jwk.has("alg") ? jwk.get("alg") : alg) !== alg) throw new KeyRejected("the JWK says another alg");
  if (jwk.has("key_ops")) throw new KeyRejected("key_ops is not supported");
  if (alg === "EdDSA") {
    expectMembers(jwk, ["kty", "crv", "x"]);
    if (jwk.get("kty") !== "OKP" || jwk.get("crv") !== "Ed25519") throw new KeyRejected("an EdDSA key must be kty OKP, crv Ed25519");
    const raw = coordinate(jwk, "x");
    if (!ed25519PointIsSound(raw)) throw new KeyRejected("the Ed25519 public key is not a valid, full-order curve point");
    return { alg, jwk: { crv: "Ed25519", kty: "OKP", x: jwk.get("x") }, raw };
  }
  expectMembers(jwk, ["kty", "crv", "x", "y"]);
  if (jwk.get("kty") !== "EC" || jwk.get("crv") !== "P-256") throw new KeyRejected("an ES256 key must be kty EC, crv P-256");
  const x = bigEndian(coordinate(jwk, "x"));
  const y = bigEndian(coordinate(jwk, "y"));
  if (!(x < P256_PRIME && y < P256_PRIME)) throw new KeyRejected("P-256 coordinates must be less than the field prime");
  const p = P256_PRIME;
  if ((y * y) % p !== (((x * x) % p) * x - 3n * x + P256_B + 3n * p) % p) throw new KeyRejected("the P-256 public key is not a point on the curve");
  return { alg, jwk: { crv: "P-256", kty: "EC", x: jwk.get("x"), y: jwk.get("y") } };
}

// The RFC 7638 thumbprint of a loaded key (SHA-256 of its required members, canonical JSON).
export async function thumbprint(key) {
  // The members are fixed names and base64url text: canonical JSON needs no escaping.
  const members = Object.entries(key.jwk).map(([name, value]) => `"${name}":"${value}"`).join(",");
  return b64urlEncode(await sha256(utf8.encode(`{${members}}`)));
}

// The kid of a loaded key: its thumbprint's first KID_LENGTH characters.
export const kidOf = async (key) => (await thumbprint(key)).slice(0, KID_LENGTH);

// Whether `signature` over `message` verifies with `key` (a loaded key): false for any failure.
// Throws Unsupported when the browser cannot verify that algorithm at all.
export async function verifySignature(key, signature, message) {
  if (signature.length !== 64) return false;
  if (key.alg === "ES256") {
    const r = bigEndian(signature.subarray(0, 32));
    const s = bigEndian(signature.subarray(32));
    if (!(r > 0n && r < P256_ORDER && s > 0n && s < P256_ORDER)) return false;
  }
  if (!key.imported) {
    const algorithm = key.alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
    key.imported = subtle().importKey("jwk", key.jwk, algorithm, false, ["verify"]).catch(() => null);
  }
  const imported = await key.imported;
  if (imported === null) {
    const found = await features();
    if (key.alg === "EdDSA" && !found.ed25519) throw new Unsupported("ed25519");
    if (key.alg === "ES256" && !found.es256) throw new Unsupported("es256");
    return false;
  }
  const params = key.alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
  try {
    return await subtle().verify(params, imported, signature, message);
  } catch {
    return false;
  }
}

// --- Ed25519 point checks (RFC 8032 §5.1.3), as keys/algorithms.py _ed25519_point_is_sound ------
const P = 2n ** 255n - 19n;
const mod = (a) => ((a % P) + P) % P;
function pow(base, exponent) {
  let result = 1n;
  base = mod(base);
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % P;
    base = (base * base) % P;
    exponent >>= 1n;
  }
  return result;
}
const D = mod(-121665n * pow(121666n, P - 2n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

// Whether `encoded` (32 bytes) is the canonical encoding of a curve point whose order does not
// divide 8: small-order keys let one forged signature verify for every message.
export function ed25519PointIsSound(encoded) {
  const value = encoded.reduceRight((n, b) => (n << 8n) | BigInt(b), 0n);
  const sign = value >> 255n;
  const y = value & ((1n << 255n) - 1n);
  if (y >= P) return false;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === mod(-u)) x = mod(x * SQRT_M1);
  else if (vx2 !== u) return false;
  if (x === 0n && sign) return false;
  let [X, Y, Z] = [x, y, 1n];
  for (let i = 0; i < 3; i++) {
    const A = (X * X) % P;
    const B = (Y * Y) % P;
    const C = (2n * Z * Z) % P;
    const E = mod((X + Y) * (X + Y) - A - B);
    const G = mod(B - A);
    const F = mod(G - C);
    const H = mod(-A - B);
    [X, Y, Z] = [(E * F) % P, (G * H) % P, (F * G) % P];
  }
  return !(X === 0n && Y === Z);
}

export { Malformed };
