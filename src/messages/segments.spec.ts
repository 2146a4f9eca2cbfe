import { countSegments } from './segments';

describe('countSegments', () => {
  it('counts GSM-7 texts by 160, then 153', () => {
    expect(countSegments('')).toEqual({ encoding: 'GSM-7', segments: 1 });
    expect(countSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', segments: 1 });
    expect(countSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', segments: 2 });
    expect(countSegments('a'.repeat(306))).toEqual({ encoding: 'GSM-7', segments: 2 });
    expect(countSegments('a'.repeat(307))).toEqual({ encoding: 'GSM-7', segments: 3 });
    expect(countSegments('Your code is 123456. @£$¥èé ÄÖÑÜ§¿')).toMatchObject({ encoding: 'GSM-7' });
  });

  it('counts extension characters as two septets and never splits them', () => {
    expect(countSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', segments: 1 });
    expect(countSegments('€'.repeat(81))).toEqual({ encoding: 'GSM-7', segments: 2 });
    // 152 septets, then an escape pair that does not fit in the first part's 153: it moves whole.
    expect(countSegments('a'.repeat(152) + '{' + 'a'.repeat(151))).toEqual({
      encoding: 'GSM-7',
      segments: 2,
    });
    expect(countSegments('a'.repeat(152) + '{' + 'a'.repeat(152))).toEqual({
      encoding: 'GSM-7',
      segments: 3,
    });
  });

  it('counts UCS-2 texts (Indian languages, emoji) by 70, then 67 code units', () => {
    const hindi = 'आपका कोड 123456 है';
    expect(countSegments(hindi)).toEqual({ encoding: 'UCS-2', segments: 1 });
    expect(countSegments('क'.repeat(70))).toEqual({ encoding: 'UCS-2', segments: 1 });
    expect(countSegments('क'.repeat(71))).toEqual({ encoding: 'UCS-2', segments: 2 });
    expect(countSegments('क'.repeat(134))).toEqual({ encoding: 'UCS-2', segments: 2 });
    expect(countSegments('क'.repeat(135))).toEqual({ encoding: 'UCS-2', segments: 3 });
    // One non-GSM character makes the whole text UCS-2.
    expect(countSegments('a'.repeat(100) + 'ç')).toEqual({ encoding: 'UCS-2', segments: 2 });
    // An emoji is a surrogate pair: two units, never split across segments.
    expect(countSegments('😀'.repeat(35))).toEqual({ encoding: 'UCS-2', segments: 1 });
    expect(countSegments('a' + '😀'.repeat(35))).toEqual({ encoding: 'UCS-2', segments: 2 });
    expect(countSegments('a'.repeat(66) + '😀' + 'a'.repeat(10))).toEqual({ encoding: 'UCS-2', segments: 2 });
  });
});
