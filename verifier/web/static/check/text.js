// Text rules for every string that is signed and shown, as keys/text.py and keys/fields.py
// apply them: canonical text is NFC, printable, without surrounding white space and without
// anything that renders as nothing. "Printable" is Python's str.isprintable() with the Unicode
// data of the server's Python (3.11: Unicode 14.0): every character assigned since is refused,
// as Python refuses it as unassigned (tests/test_browser_verifier.py compares every code point).

// Characters assigned after Unicode 14.0 up to the Unicode of Chromium 156 (17.0).
const NEWER = "\u{88f}\u{897}\u{c5c}\u{cdc}\u{cf3}\u{ece}\u{1acf}-\u{1add}\u{1ae0}-\u{1aeb}\u{1b4e}-\u{1b4f}\u{1b7f}\u{1c89}-\u{1c8a}\u{20c1}\u{2427}-\u{2429}\u{2b96}\u{2ffc}-\u{2fff}\u{31e4}-\u{31e5}\u{31ef}\u{a7cb}-\u{a7cf}\u{a7d2}\u{a7d4}\u{a7da}-\u{a7dc}\u{a7f1}\u{fbc3}-\u{fbd2}\u{fd90}-\u{fd91}\u{fdc8}-\u{fdce}\u{105c0}-\u{105f3}\u{10940}-\u{10959}\u{10d40}-\u{10d65}\u{10d69}-\u{10d85}\u{10d8e}-\u{10d8f}\u{10ec2}-\u{10ec7}\u{10ed0}-\u{10ed8}\u{10efa}-\u{10eff}\u{1123f}-\u{11241}\u{11380}-\u{11389}\u{1138b}\u{1138e}\u{11390}-\u{113b5}\u{113b7}-\u{113c0}\u{113c2}\u{113c5}\u{113c7}-\u{113ca}\u{113cc}-\u{113d5}\u{113d7}-\u{113d8}\u{113e1}-\u{113e2}\u{116d0}-\u{116e3}\u{11b00}-\u{11b09}\u{11b60}-\u{11b67}\u{11bc0}-\u{11be1}\u{11bf0}-\u{11bf9}\u{11db0}-\u{11ddb}\u{11de0}-\u{11de9}\u{11f00}-\u{11f10}\u{11f12}-\u{11f3a}\u{11f3e}-\u{11f5a}\u{1342f}\u{13440}-\u{13455}\u{13460}-\u{143fa}\u{16100}-\u{16139}\u{16d40}-\u{16d79}\u{16ea0}-\u{16eb8}\u{16ebb}-\u{16ed3}\u{16ff2}-\u{16ff6}\u{187f8}-\u{187ff}\u{18cff}\u{18d09}-\u{18d1e}\u{18d80}-\u{18df2}\u{1b132}\u{1b155}\u{1cc00}-\u{1ccfc}\u{1cd00}-\u{1ceb3}\u{1ceba}-\u{1ced0}\u{1cee0}-\u{1cef0}\u{1d2c0}-\u{1d2d3}\u{1df25}-\u{1df2a}\u{1e030}-\u{1e06d}\u{1e08f}\u{1e4d0}-\u{1e4f9}\u{1e5d0}-\u{1e5fa}\u{1e5ff}\u{1e6c0}-\u{1e6de}\u{1e6e0}-\u{1e6f5}\u{1e6fe}-\u{1e6ff}\u{1f6d8}\u{1f6dc}\u{1f774}-\u{1f77f}\u{1f7d9}\u{1f8b2}-\u{1f8bb}\u{1f8c0}-\u{1f8c1}\u{1f8d0}-\u{1f8d8}\u{1fa54}-\u{1fa57}\u{1fa75}-\u{1fa77}\u{1fa87}-\u{1fa8a}\u{1fa8e}-\u{1fa8f}\u{1faad}-\u{1faaf}\u{1fabb}-\u{1fabf}\u{1fac6}\u{1fac8}\u{1facd}-\u{1facf}\u{1fada}-\u{1fadc}\u{1fadf}\u{1fae8}-\u{1faea}\u{1faef}\u{1faf7}-\u{1faf8}\u{1fbcb}-\u{1fbef}\u{1fbfa}\u{2b739}-\u{2b73f}\u{2cea2}-\u{2cead}\u{2ebf0}-\u{2ee5d}\u{31350}-\u{33479}";
// Python's isprintable(): no Other (Cc Cf Cs Co Cn) nor Separator (Zs Zl Zp) but the space.
const UNPRINTABLE = new RegExp(`(?! )[\\p{C}\\p{Z}]|[${NEWER}]`, "u");
// Python's str.isspace(), what str.strip() removes.
const SPACE = "[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const SURROUNDED = new RegExp(`^${SPACE}|${SPACE}$`);
// Unicode's Default_Ignorable_Code_Point characters that isprintable() lets through (keys/text.py).
const DEFAULT_IGNORABLE =
  /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0000}-\u{e0fff}]/u;

// Agency ids, permit type codes, the registry id: lower-case ASCII.
export const IDENTIFIER = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

// A refusal of one field, as keys/fields.py FieldError: problem "missing", "bad" or "text".
export class FieldError extends Error {
  constructor(problem, message) {
    super(message);
    this.problem = problem;
  }
}

// The length of `text` in code points, as Python counts it.
export function length(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

// Python's str.isprintable(), with Unicode 14.0's assignments.
export const isPrintable = (text) => !UNPRINTABLE.test(text);
// Whether Python's str.strip() would change `text`.
export const isSurrounded = (text) => SURROUNDED.test(text);
// Whether `text` holds a default-ignorable character that isprintable() lets through.
export const hasIgnorable = (text) => DEFAULT_IGNORABLE.test(text);

// keys/text.py is_canonical_text: non-empty NFC text of at most `max` code points, printable,
// no surrounding white space, nothing that renders as nothing.
export function isCanonicalText(text, max) {
  const n = length(text);
  return n > 0 && n <= max && isPrintable(text) && !isSurrounded(text) && text.normalize("NFC") === text && !hasIgnorable(text);
}

// Whether `value` is an identifier (keys/text.py is_identifier).
export const isIdentifier = (value) => typeof value === "string" && IDENTIFIER.test(value);

// keys/fields.py texts: each [value, max] a string of 1..max code points without surrounding
// white space, then all of them canonical at once. Throws FieldError ("bad" or "text").
export function texts(values) {
  for (const [value, max] of values) {
    if (typeof value !== "string" || !(length(value) > 0 && length(value) <= max)) throw new FieldError("bad", "text of the wrong type or length");
    if (isSurrounded(value)) throw new FieldError("text", "text with surrounding white space");
  }
  const joined = values.map(([value]) => value).join(" ");
  if (!isCanonicalText(joined, Infinity)) throw new FieldError("text", "text is not canonical");
}

// keys/fields.py text: one canonical text of 1..max code points. Throws FieldError.
export function text(value, max) {
  if (typeof value !== "string" || !(length(value) > 0 && length(value) <= max)) throw new FieldError("bad", "text of the wrong type or length");
  if (!isCanonicalText(value, max)) throw new FieldError("text", "text is not canonical");
  return value;
}
