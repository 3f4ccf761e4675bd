// The two algorithms and their key checks, as keys/algorithms.py: EdDSA (Ed25519) and ES256
// (P-256, signatures r‖s: what WebCrypto's ECDSA takes). Keys are checked on their numbers
// here (small-order points, off the curve, non-canonical); WebCrypto only verifies.

import { b64urlDecode, b64urlEncode, utf8 } from "./encoding.js";

export const ALGORITHMS = ["EdDSA", "ES256"];

// What this browser cannot check, so the page must ask the API: `feature` is "webcrypto" (none,
// or not a secure context), "ed25519", "es256", "decompression" or "legacy_status_list" (the
// list format before 2027-03-01, bzip2: not read here).
export class Unsupported extends Error {
  constructor(feature) {
    super(feature);
    this.feature = feature;
  }
}

// A JWK that is not an acceptable public key.
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

// {webcrypto, ed25519, es256, deflate}: what this browser offers, found by trying each.
export async function features() {
  const found = { webcrypto: false, ed25519: false, es256: false, deflate: false };
  try {
    found.deflate = typeof DecompressionStream === "function" && Boolean(new DecompressionStream("deflate-raw"));
  } catch {
    found.deflate = false;
  }
  if (!globalThis.crypto || !globalThis.crypto.subtle) return found;
  found.webcrypto = true;
  // RFC 8037's example Ed25519 key, and P-256's generator.
  const tries = {
    ed25519: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }, { name: "Ed25519" }],
    es256: [{ kty: "EC", crv: "P-256", x: "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", y: "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU" }, { name: "ECDSA", namedCurve: "P-256" }],
  };
  for (const [name, [jwk, algorithm]] of Object.entries(tries)) {
    found[name] = await crypto.subtle.importKey("jwk", jwk, algorithm, false, ["verify"]).then(() => true, () => false);
  }
  return found;
}

function expectMembers(jwk, required) {
  for (const name of required) if (!jwk.has(name)) throw new KeyRejected(`lacks ${name}`);
  for (const name of jwk.keys()) if (!required.includes(name) && !ADVISORY_MEMBERS.includes(name)) throw new KeyRejected(`has ${name}`);
}

function coordinate(jwk, name) {
  let raw;
  try {
    raw = b64urlDecode(jwk.get(name));
  } catch {
    throw new KeyRejected(name);
  }
  if (raw.length !== 32) throw new KeyRejected(name);
  return raw;
}

const bigEndian = (bytes) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

// load_public_jwk: the key `jwk` (a Map) for `alg`, {alg, jwk: its required members}, or
// KeyRejected.
export function loadPublicJwk(jwk, alg) {
  if (!ALGORITHMS.includes(alg)) throw new KeyRejected("alg");
  if (!(jwk instanceof Map) || ![...jwk.values()].every((v) => typeof v === "string")) throw new KeyRejected("not strings");
  if (SECRET_MEMBERS.some((name) => jwk.has(name))) throw new KeyRejected("private");
  if ((jwk.has("use") ? jwk.get("use") : "sig") !== "sig") throw new KeyRejected("use");
  if ((jwk.has("alg") ? jwk.get("alg") : alg) !== alg) throw new KeyRejected("alg");
  if (jwk.has("key_ops")) throw new KeyRejected("key_ops");
  if (alg === "EdDSA") {
    expectMembers(jwk, ["kty", "crv", "x"]);
    if (jwk.get("kty") !== "OKP" || jwk.get("crv") !== "Ed25519") throw new KeyRejected("kty");
    const raw = coordinate(jwk, "x");
    if (!ed25519PointIsSound(raw)) throw new KeyRejected("point");
    return { alg, jwk: { crv: "Ed25519", kty: "OKP", x: jwk.get("x") } };
  }
  expectMembers(jwk, ["kty", "crv", "x", "y"]);
  if (jwk.get("kty") !== "EC" || jwk.get("crv") !== "P-256") throw new KeyRejected("kty");
  const x = bigEndian(coordinate(jwk, "x"));
  const y = bigEndian(coordinate(jwk, "y"));
  const p = P256_PRIME;
  // Coordinates below the prime (one spelling, one kid per key), and y² = x³ - 3x + b.
  if (!(x < p && y < p) || (y * y) % p !== (((x * x) % p) * x - 3n * x + P256_B + 3n * p) % p) throw new KeyRejected("point");
  return { alg, jwk: { crv: "P-256", kty: "EC", x: jwk.get("x"), y: jwk.get("y") } };
}

// The kid of a loaded key: its RFC 7638 thumbprint's first 12 characters. (Its members are
// sorted names and base64url text: canonical JSON without escapes.)
export async function kidOf(key) {
  const members = Object.entries(key.jwk).map(([name, value]) => `"${name}":"${value}"`);
  return b64urlEncode(await sha256(utf8.encode(`{${members}}`))).slice(0, 12);
}

// Whether `signature` over `message` verifies with a loaded `key`: false for any failure;
// Unsupported when the browser lacks the algorithm.
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

// Ed25519 point checks (RFC 8032 §5.1.3), as keys/algorithms.py _ed25519_point_is_sound.
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

// Whether `encoded` is the canonical encoding of a point of order not dividing 8 (with a
// small-order key one forged signature verifies for every message).
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

