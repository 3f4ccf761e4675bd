// Bounded decompression with DecompressionStream: a permit's payload (raw DEFLATE, DEFv1
// dictionary: inflate_claims) and a status list's array (ZLIB: _inflate_at_most). Exactly one
// whole stream each: truncated, followed by other bytes or past its bound throws Malformed.

import { Malformed } from "./encoding.js";
import { DICTIONARIES } from "./dictionary.js";

export const MAX_CLAIMS_BYTES = 8192;

// DecompressionStream has no preset dictionary: the dictionary goes first, as a stored block
// that is not the last (byte 0: BFINAL 0, BTYPE 00; LEN, NLEN), filling the window as zlib's
// zdict does; it ends on a byte boundary, where the payload's first block then starts.
const PRESETS = {};
function preset(dictionary) {
  const n = dictionary.length;
  const block = new Uint8Array(5 + n);
  block.set([0, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff]);
  block.set(dictionary, 5);
  return block;
}

// What `chunks` inflate to in `format`: Malformed unless one whole stream of at most `limit`.
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
        throw new Malformed("bound");
      }
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof Malformed) throw error;
    throw new Malformed("stream");
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// The claims' bytes of a verified permit payload, inflated with the dictionary `zip` names.
export async function inflateClaims(payload, zip) {
  const dictionary = DICTIONARIES[zip];
  PRESETS[zip] ??= preset(dictionary);
  const out = await inflate("deflate-raw", [PRESETS[zip], payload], dictionary.length + MAX_CLAIMS_BYTES);
  return out.subarray(dictionary.length);
}

// The array a status list's ZLIB `data` holds, at most `limit` bytes.
export const inflateZlib = (data, limit) => inflate("deflate", [data], limit);
