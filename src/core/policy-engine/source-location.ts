/**
 * Cedar reports positions as UTF-8 byte offsets into the text it was given; people want `file:line:col`.
 */

export interface Position {
  line: number;
  column: number;
}

/** Line and column (both 1-based, column in characters) of a byte offset in `text`. */
export function positionOf(text: string, byteOffset: number): Position {
  const bytes = Buffer.from(text, 'utf8');
  const before = bytes.subarray(0, Math.max(0, Math.min(byteOffset, bytes.length))).toString('utf8');
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

/** Byte offset of a character index. */
export function byteOffsetOf(text: string, charIndex: number): number {
  return Buffer.byteLength(text.slice(0, charIndex), 'utf8');
}
