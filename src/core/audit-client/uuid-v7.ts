/**
 * RFC 9562 §5.7 UUID version 7: 48-bit Unix milliseconds, then a 12-bit counter (the "monotonic random"
 * method of §6.2, so ids from one generator sort in creation order), then 62 random bits. Time-ordered ids
 * land at the right edge of the audit log's unique index instead of at random pages, which is what lets a
 * durable append keep up with batches of thousands.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';

export function uuidV7Generator(
  clock: Clock = { now: () => Date.now() },
  random: (n: number) => Buffer = randomBytes,
): () => string {
  let lastMs = -1;
  let counter = 0;
  return () => {
    let ms = clock.now();
    if (ms <= lastMs) {
      ms = lastMs;
      counter++;
      // §6.2: on counter overflow, advance the timestamp rather than lose ordering.
      if (counter > 0xfff) {
        ms = ++lastMs;
        counter = 0;
      }
    } else {
      counter = random(2).readUInt16BE(0) & 0x3ff; // start low so the counter has room
    }
    lastMs = ms;
    const b = random(16);
    b.writeUIntBE(ms, 0, 6);
    b[6] = 0x70 | (counter >> 8); // version 7
    b[7] = counter & 0xff;
    b[8] = (b[8]! & 0x3f) | 0x80; // variant 10
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
}
