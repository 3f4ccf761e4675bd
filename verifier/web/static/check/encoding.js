// Strict encodings, as keys/encoding.py: canonical base64url and strict JSON (I-JSON). One
// spelling per value; anything else throws Malformed.

export class Malformed extends Error {}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

// Unpadded base64url of `bytes`.
export function b64urlEncode(bytes) {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >> bits) & 63];
    }
  }
  return bits ? out + ALPHABET[(acc << (6 - bits)) & 63] : out;
}

// The bytes of canonical unpadded base64url `text`; Malformed for padding, white space, other
// characters, a length of 4k+1 or non-zero unused bits in the last character.
export function b64urlDecode(text) {
  const n = text.length;
  if (n % 4 === 1) throw new Malformed("base64url");
  const out = new Uint8Array((n * 3) >> 2);
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? VALUE[c] : -1;
    if (v < 0) throw new Malformed("base64url");
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  if (acc & ((1 << bits) - 1)) throw new Malformed("base64url bits");
  return out;
}

export const MAX_SAFE_INT = Number.MAX_SAFE_INTEGER;
export const MAX_DEPTH = 16;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const utf8 = new TextEncoder();

// `bytes` as UTF-8 text; Malformed for anything else (overlong forms, surrogates, …).
export function decodeUtf8(bytes) {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new Malformed("UTF-8");
  }
}

// loads_strict: UTF-8 without BOM, no duplicate members, integers within ±(2^53-1) only (no
// fraction, exponent, NaN), no lone surrogate, nesting at most MAX_DEPTH. Objects become Maps.
export function parseStrict(bytes) {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw new Malformed("BOM");
  return parseText(decodeUtf8(bytes));
}

// parseStrict of decoded text.
export function parseText(text) {
  let i = 0;
  const fail = () => {
    throw new Malformed("JSON");
  };
  const space = () => {
    while (" \t\n\r".includes(text[i] || "x")) i++;
  };
  const string = () => {
    let out = "";
    let start = ++i;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        out += text.slice(start, i++);
        if (/\p{Cs}/u.test(out)) fail(); // a lone surrogate, escaped
        return out;
      }
      if (!(c >= 32)) fail(); // a control character, or the end
      if (c === 92) {
        out += text.slice(start, i);
        const e = text[i + 1];
        if (e === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail();
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }[e];
          if (simple === undefined) fail();
          out += simple;
          i += 2;
        }
        start = i;
      } else {
        i++;
      }
    }
  };
  const value = (depth) => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (depth >= MAX_DEPTH) fail();
      i++;
      space();
      const close = c === "{" ? "}" : "]";
      const out = c === "{" ? new Map() : [];
      if (text[i] === close) {
        i++;
        return out;
      }
      for (;;) {
        if (c === "{") {
          space();
          if (text[i] !== '"') fail();
          const key = string();
          space();
          if (text[i++] !== ":" || out.has(key)) fail();
          out.set(key, value(depth + 1));
        } else {
          out.push(value(depth + 1));
        }
        space();
        const next = text[i++];
        if (next === close) return out;
        if (next !== ",") fail();
      }
    }
    if (c === '"') return string();
    for (const [word, result] of [["true", true], ["false", false], ["null", null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return result;
      }
    }
    const number = /-?(?:0|[1-9][0-9]*)(?![.eE])/y;
    number.lastIndex = i;
    const found = number.exec(text);
    if (!found || found[0].length > 17) fail();
    i = number.lastIndex;
    const n = Number(found[0]);
    if (Math.abs(n) > MAX_SAFE_INT) fail();
    return n || 0;
  };
  const result = value(0);
  space();
  if (i !== text.length) fail();
  return result;
}

// A JSON object as parseStrict makes them.
export const isObject = (v) => v instanceof Map;
// A JSON integer (never a boolean).
export const isInt = (v) => Number.isInteger(v);
