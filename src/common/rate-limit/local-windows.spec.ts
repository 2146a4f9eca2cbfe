import { LocalWindows } from './local-windows';

describe('LocalWindows', () => {
  it('counts within a window and starts a new one when it ends', () => {
    const w = new LocalWindows();
    expect(w.count('a', 1, 60, 1000)).toEqual([1, 60_000]);
    expect(w.count('a', 1, 60, 31_000)).toEqual([2, 30_000]);
    expect(w.count('a', 0, 60, 31_000)).toEqual([2, 30_000]);
    expect(w.count('a', 1, 60, 61_000)).toEqual([1, 60_000]);
  });

  it('reads zero for an unknown key without storing it', () => {
    const w = new LocalWindows();
    expect(w.count('x', 0, 60)).toEqual([0, 0]);
    expect(w.size).toBe(0);
  });

  it('stays bounded: sweeps expired windows, then drops the oldest tenth', () => {
    const w = new LocalWindows(10);
    for (let i = 0; i < 10; i++) w.count(`k${i}`, 1, i < 5 ? 1 : 60, 0);
    w.count('new', 1, 60, 2000); // k0..k4 expired: swept
    expect(w.size).toBe(6);
    for (let i = 0; i < 4; i++) w.count(`m${i}`, 1, 60, 2000);
    expect(w.size).toBe(10);
    w.count('last', 1, 60, 2000); // none expired: the oldest (k5) goes
    expect(w.size).toBe(10);
    expect(w.count('k5', 0, 60, 2000)).toEqual([0, 0]);
    expect(w.count('k6', 0, 60, 2000)[0]).toBe(1);
  });
});
