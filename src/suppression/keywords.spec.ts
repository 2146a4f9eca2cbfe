import { keywordOf } from './keywords';

describe('keywordOf', () => {
  it.each([
    ['STOP', 'opt_out'],
    ['stop', 'opt_out'],
    ['  Stop!! ', 'opt_out'],
    ['StopAll', 'opt_out'],
    ['unsubscribe.', 'opt_out'],
    ['cancel', 'opt_out'],
    ['END', 'opt_out'],
    ['quit?', 'opt_out'],
    ['revoke', 'opt_out'],
    ['optout', 'opt_out'],
    ['opt out', 'opt_out'],
    ['Opt  Out!', 'opt_out'],
    ['\tSTOP\n', 'opt_out'],
    ['START', 'opt_in'],
    ['unstop', 'opt_in'],
    ['yes.', 'opt_in'],
    ['Help', 'help'],
    ['info?!', 'help'],
    [`STOP${' '.repeat(60)}`, 'opt_out'],
    ['STOP+', 'opt_out'],
    ['stop~', 'opt_out'],
    ['STOP $', 'opt_out'],
    ['STOP\u200B', 'opt_out'],
    ['\uFEFFstop', 'opt_out'],
    ['Stop 🙏', 'opt_out'],
  ])('%j is %s', (text, keyword) => {
    expect(keywordOf(text)).toBe(keyword);
  });

  it.each([
    'please stop',
    'STOP IT',
    'STO P',
    'stopp',
    '',
    '   ',
    '.STOP',
    'OPT-OUT',
    'H E L P',
    'START 123',
    'x'.repeat(500),
  ])('%j is not a keyword', (text) => {
    expect(keywordOf(text)).toBeNull();
  });
});
