import { randomInt } from 'node:crypto';
import { parsePhone } from '../../src/common/phone';

/** A random valid Indian mobile number in E.164, so tests never collide on data. */
export function randomMobile(): string {
  for (;;) {
    const candidate = `+919${String(randomInt(0, 1e9)).padStart(9, '0')}`;
    if (parsePhone(candidate, 'IN')?.e164 === candidate) return candidate;
  }
}
