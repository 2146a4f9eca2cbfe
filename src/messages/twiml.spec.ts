import { EMPTY_TWIML, twimlReply } from './twiml';

describe('TwiML replies', () => {
  it('escapes markup and leaves out what XML 1.0 cannot hold, so the answer always parses', () => {
    const reply = twimlReply('Verified <b>&</b> "ok" \'yes\'\f\u0001\tdone\n');
    expect(reply).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Verified &lt;b&gt;&amp;&lt;/b&gt; &quot;ok&quot; &apos;yes&apos;\tdone\n</Message></Response>',
    );
    expect(EMPTY_TWIML).toMatch(/<Response\/>$/);
  });
});
