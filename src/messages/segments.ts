// How carriers count an SMS: the encoding its text needs and the number of segments it is split into. A text
// whose every character is in the GSM 03.38 default alphabet (or its extension table, two septets each) goes
// as GSM-7: 160 septets in one segment, 153 per segment once split (the rest is the concatenation header).
// Anything else goes as UCS-2: 70 UTF-16 code units in one segment, 67 per segment once split. Carriers never
// split an escape sequence or a surrogate pair across two segments, so neither is counted as split here.

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  segments: number;
}

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';

const SEPTETS = new Map<string, number>([
  ...[...GSM_BASIC].map((c) => [c, 1] as [string, number]),
  ...[...GSM_EXTENSION].map((c) => [c, 2] as [string, number]),
]);

/** Units (septets or UTF-16 code units) per segment: alone, and once split. */
const LIMITS: Record<SmsEncoding, { single: number; part: number }> = {
  'GSM-7': { single: 160, part: 153 },
  'UCS-2': { single: 70, part: 67 },
};

/** The encoding and segment count of an SMS text; an empty text is one segment. */
export function countSegments(text: string): SegmentCount {
  const units: number[] = [];
  let encoding: SmsEncoding = 'GSM-7';
  for (const ch of text) {
    const septets = SEPTETS.get(ch);
    if (septets === undefined) {
      encoding = 'UCS-2';
      break;
    }
    units.push(septets);
  }
  if (encoding === 'UCS-2') {
    units.length = 0;
    for (const ch of text) units.push(ch.length); // a character outside the BMP is a surrogate pair: 2 units
  }
  const { single, part } = LIMITS[encoding];
  const total = units.reduce((a, b) => a + b, 0);
  if (total <= single) return { encoding, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const u of units) {
    if (used + u > part) {
      segments++;
      used = 0;
    }
    used += u;
  }
  return { encoding, segments };
}
