/**
 * Protocol Buffers wire format, the few pieces the ingest's hand-written
 * encoders need (envelope-encoder.ts, publish-response.ts): varints and
 * length-delimited fields written into a buffer sized in advance. Kafka's
 * unsigned varints are the same LEB128, so produce-request.ts writes its
 * records with these varints too. Each encoder's tests compare its bytes
 * with the reference encoder's.
 */

/** Bytes of the varint of a non-negative integer up to 2^53. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  for (let rest = Math.floor(value / 2 ** 35); rest > 0; rest = Math.floor(rest / 128)) size++;
  return size;
}

/** Writes the varint of a non-negative integer up to 2^53; returns the offset after it. */
export function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  while (rest >= 0x80) {
    buffer[offset++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buffer[offset++] = rest;
  return offset;
}

/** Size of a length-delimited field with a one-byte tag holding `length` bytes. */
export function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Strings up to this many characters are copied by a loop rather than a native UTF-8 write. */
const shortString = 48;

/**
 * Writes a length-delimited string field with a one-byte `tag`; `length` is
 * the string's UTF-8 byte length. Short ASCII strings (ids, content types)
 * are copied in JavaScript, which costs less than a call into the encoder.
 */
export function writeString(
  buffer: Buffer,
  offset: number,
  tag: number,
  value: string,
  length: number,
): number {
  buffer[offset++] = tag;
  offset = writeVarint(buffer, offset, length);
  if (length === value.length && length <= shortString) {
    for (let i = 0; i < length; i++) buffer[offset + i] = value.charCodeAt(i);
    return offset + length;
  }
  return offset + buffer.write(value, offset, length, 'utf8');
}

/** Writes a length-delimited bytes field with a one-byte `tag`. */
export function writeBytes(buffer: Buffer, offset: number, tag: number, value: Uint8Array): number {
  buffer[offset++] = tag;
  offset = writeVarint(buffer, offset, value.byteLength);
  buffer.set(value, offset);
  return offset + value.byteLength;
}
