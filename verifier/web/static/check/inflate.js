// Bounded decompression with the browser's own DecompressionStream: a permit's payload (raw
// DEFLATE with the DEFv1 preset dictionary, permits/token.py inflate_claims) and a status
// list's array (ZLIB, permits/status_list.py _inflate_at_most). Each accepts exactly one whole
// stream: truncated, followed by other bytes, or larger than its bound throws Malformed.

import { Malformed } from "./encoding.js";
import { DICTIONARY_V1 } from "./dictionary.js";

// A permit's claims are at most this many bytes once inflated (permits/token.py).
export const MAX_CLAIMS_BYTES = 8192;

// DecompressionStream has no preset dictionary: the dictionary goes first as a DEFLATE stored
// block that is not the last one (header byte 0: BFINAL 0, BTYPE 00, then LEN and its
// complement), so it fills the window exactly as zlib's zdict does. A stored block ends on a
// byte boundary, so the payload's first block starts where a lone stream's would.
const PRESET = new Uint8Array(5 + DICTIONARY_V1.length);
PRESET.set([0, DICTIONARY_V1.length & 0xff, DICTIONARY_V1.length >> 8, ~DICTIONARY_V1.length & 0xff, (~DICTIONARY_V1.length >> 8) & 0xff]);
PRESET.set(DICTIONARY_V1, 5);

// The bytes `chunks` inflate to in `format`, at most `limit` of them; Malformed when the data
// is not exactly one complete stream of that format, or would inflate past `limit`.
async function inflate(format, chunks, limit) {
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  // Errors surface on the reading side; these promises must not be left unhandled.
  for (const chunk of chunks) writer.write(chunk).catch(() => {});
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const parts = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel().catch(() => {});
        throw new Malformed("inflates past its bound");
      }
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof Malformed) throw error;
    throw new Malformed("not one whole compressed stream");
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// The claims' bytes of a verified permit payload; Malformed as inflate_claims raises ValueError.
export async function inflateClaims(payload) {
  const out = await inflate("deflate-raw", [PRESET, payload], DICTIONARY_V1.length + MAX_CLAIMS_BYTES);
  return out.subarray(DICTIONARY_V1.length);
}

// The array a status list's ZLIB `data` holds, at most `limit` bytes; Malformed otherwise.
export const inflateZlib = (data, limit) => inflate("deflate", [data], limit);
