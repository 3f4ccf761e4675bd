// The claims, read as permits/model.py Permit.from_claims, checks in its order so that the first
// refusal is the same: FieldError "missing", "bad" or "text".

import { isInt, isObject } from "./encoding.js";
import { FieldError, isIdentifier, texts } from "./text.js";
import { MAX_TIME, members } from "./registry.js";

const NUMBER_MAX = 64;
const NAME_MAX = 200;
const ADDRESS_MAX = 300;
const ITEM_MAX = 300;
const ITEMS_MAX = 20;
const MAX_STATUS_INDEX = 2 ** 31 - 1;
const MAX_VERSION = 10000;
const MAX_BASIS = 4;
const HOLDER_ID = /^[0-9A-Za-z][0-9A-Za-z./-]{0,31}$/;
const PERMIT_ID = /^[0-9A-Z]{4,32}$/;
const CLAIMS = ["iss", "jti", "sub", "iat", "nbf", "exp", "ptype", "st", "ver", "permit"];

const bad = (why) => new FieldError("bad", why);
const inRange = (value, low, high) => isInt(value) && value >= low && value <= high;
const matches = (value, pattern) => typeof value === "string" && pattern.test(value);

// BasisRef.from_claim: {agency, id, statusIndex, type}.
function basisRef(obj) {
  const m = members(obj, ["iss", "jti", "st", "ptype"]);
  const ref = { agency: m.get("iss"), id: m.get("jti"), statusIndex: m.get("st"), type: m.get("ptype") };
  if (!isIdentifier(ref.agency) || !isIdentifier(ref.type)) throw bad("basis iss and ptype must be identifiers");
  if (!matches(ref.id, PERMIT_ID)) throw bad("basis jti");
  if (!inRange(ref.statusIndex, 0, MAX_STATUS_INDEX)) throw bad("basis st");
  return ref;
}

// BasisRef's order: (agency, id, status index, type); these strings are ASCII.
function compareRefs(a, b) {
  for (const name of ["agency", "id", "statusIndex", "type"]) {
    if (a[name] !== b[name]) return a[name] < b[name] ? -1 : 1;
  }
  return 0;
}

// The permit parsed claims describe, or FieldError.
export function permitFromClaims(claims) {
  if (!isObject(claims)) throw bad("claims must be an object");
  const names = [...claims.keys()];
  const exact = CLAIMS.every((name) => claims.has(name)) && names.every((name) => CLAIMS.includes(name) || name === "basis");
  if (!exact) {
    if (CLAIMS.some((name) => !claims.has(name))) throw new FieldError("missing", "a claim is missing");
    throw bad("unknown claim");
  }
  let basis = [];
  if (claims.has("basis")) {
    const refs = claims.get("basis");
    if (!Array.isArray(refs) || !refs.length || refs.length > MAX_BASIS) throw bad("basis must be a list of 1 to 4 references");
    basis = refs.map(basisRef);
  }
  const p = members(claims.get("permit"), ["no", "name"], ["addr", "act", "cond"]);
  const activities = p.has("act") ? p.get("act") : [];
  const conditions = p.has("cond") ? p.get("cond") : [];
  if (!Array.isArray(activities) || !Array.isArray(conditions)) throw bad("act and cond must be lists");
  if ((p.has("act") && !activities.length) || (p.has("cond") && !conditions.length)) throw bad("empty lists are left out");
  const permit = {
    agency: claims.get("iss"),
    id: claims.get("jti"),
    number: p.get("no"),
    type: claims.get("ptype"),
    holderId: claims.get("sub"),
    holderName: p.get("name"),
    // A member given as null is absent, as p.get() reads it in Python.
    holderAddress: p.get("addr") ?? null,
    activities,
    conditions,
    issuedAt: claims.get("iat"),
    validFrom: claims.get("nbf"),
    validUntil: claims.get("exp"),
    statusIndex: claims.get("st"),
    version: claims.get("ver"),
    basis,
  };
  if (!isIdentifier(permit.agency)) throw bad("iss");
  if (!isIdentifier(permit.type)) throw bad("ptype");
  if (!matches(permit.id, PERMIT_ID)) throw bad("jti");
  if (!matches(permit.holderId, HOLDER_ID)) throw bad("sub");
  if (![permit.issuedAt, permit.validFrom, permit.validUntil].every((t) => inRange(t, 0, MAX_TIME))) throw bad("iat, nbf and exp must be times");
  if (!inRange(permit.statusIndex, 0, MAX_STATUS_INDEX)) throw bad("st");
  if (!inRange(permit.version, 1, MAX_VERSION)) throw bad("ver");
  if (permit.validUntil <= permit.validFrom) throw bad("the permit must end after it starts");
  if (activities.length > ITEMS_MAX || conditions.length > ITEMS_MAX) throw bad("too many activities or conditions");
  const all = [[permit.number, NUMBER_MAX], [permit.holderName, NAME_MAX]];
  if (permit.holderAddress !== null) all.push([permit.holderAddress, ADDRESS_MAX]);
  for (const item of [...activities, ...conditions]) all.push([item, ITEM_MAX]);
  texts(all);
  if (basis.length) {
    const sorted = [...basis].sort(compareRefs);
    const inOrder = basis.every((ref, i) => compareRefs(ref, sorted[i]) === 0);
    const once = new Set(basis.map((r) => `${r.agency} ${r.id}`)).size === basis.length && new Set(basis.map((r) => r.type)).size === basis.length;
    if (!inOrder || !once) throw bad("basis references must be sorted, each permit and each type once");
  }
  return permit;
}
