// The opt-out keywords every inbound SMS door reads before any other pipeline (the rules carriers in the US and
// Canada require for application-to-person messaging; Twilio Advanced Opt-Out reads the same set).

export type Keyword = 'opt_out' | 'opt_in' | 'help';

const KEYWORDS: Record<string, Keyword> = {
  STOP: 'opt_out',
  STOPALL: 'opt_out',
  UNSUBSCRIBE: 'opt_out',
  CANCEL: 'opt_out',
  END: 'opt_out',
  QUIT: 'opt_out',
  REVOKE: 'opt_out',
  OPTOUT: 'opt_out',
  'OPT OUT': 'opt_out',
  START: 'opt_in',
  UNSTOP: 'opt_in',
  YES: 'opt_in',
  HELP: 'help',
  INFO: 'help',
};

/**
 * The keyword an SMS is, or null: the whole message, trimmed, in any case, with trailing punctuation and symbols
 * ignored (`!`, `+`, `~`, an emoji), zero-width characters dropped and runs of spaces read as one ("  Stop!! "
 * and "opt  out." are keywords; "please stop" is not).
 */
export function keywordOf(message: string): Keyword | null {
  if (message.length > 1600) return null; // longer than any SMS: not worth reading
  const word = message
    .replace(/[\u200B-\u200D\u2060\uFEFF]/g, '')
    .trim()
    .replace(/[\p{P}\p{S}\s]+$/u, '')
    .replace(/\s+/g, ' ')
    .toUpperCase();
  return word.length <= 11 ? (KEYWORDS[word] ?? null) : null;
}
