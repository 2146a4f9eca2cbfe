// The CAPTCHA / attestation hook of /otp/send: a token checked server-to-server the way hCaptcha and Cloudflare
// Turnstile check theirs (a form POST of secret, response and remoteip to a siteverify URL; JSON with `success`).
import { Injectable, Logger } from '@nestjs/common';
import { Agent, fetch } from 'undici';
import { AppException } from '../common/app.exception';
import { AppConfig } from '../config/app-config';

/** How long the siteverify call may take: an end user is waiting for their code. */
export const CAPTCHA_TIMEOUT_MS = 5000;

@Injectable()
export class CaptchaVerifier {
  private readonly logger = new Logger('Captcha');
  private readonly dispatcher = new Agent({ connect: { timeout: 2000 } });

  constructor(private readonly config: AppConfig) {}

  /** Whether sends need a token (OTP_CAPTCHA_VERIFY_URL and OTP_CAPTCHA_SECRET set). */
  get required(): boolean {
    return !!this.config.otp.captcha;
  }

  /**
   * Throws unless the token passes: 400 CAPTCHA_REQUIRED without one, 403 CAPTCHA_FAILED when the verifier says
   * no, 503 CAPTCHA_UNAVAILABLE when it cannot be asked or answers something else than its JSON (fails closed:
   * a send the check could not vouch for is not made).
   */
  async check(token: string | undefined, remoteIp: string | undefined): Promise<void> {
    const captcha = this.config.otp.captcha;
    if (!captcha) return;
    if (!token) throw new AppException(400, 'CAPTCHA_REQUIRED', 'captcha_token is required to send a code');
    const form = new URLSearchParams({ secret: captcha.secret, response: token });
    if (remoteIp) form.set('remoteip', remoteIp);
    let answer: { success?: unknown; 'error-codes'?: unknown };
    try {
      const res = await fetch(captcha.verifyUrl, {
        method: 'POST',
        body: form,
        signal: AbortSignal.timeout(CAPTCHA_TIMEOUT_MS),
        dispatcher: this.dispatcher,
        redirect: 'manual',
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`it answered ${res.status}`);
      }
      answer = (await res.json()) as typeof answer;
      if (!answer || typeof answer !== 'object') throw new Error('its answer is not a JSON object');
    } catch (err) {
      this.logger.warn(`CAPTCHA verifier not usable: ${(err as Error).message}`);
      throw new AppException(
        503,
        'CAPTCHA_UNAVAILABLE',
        'The CAPTCHA cannot be checked right now; try again shortly',
        {},
        5,
      );
    }
    if (answer.success !== true) {
      const codes = Array.isArray(answer['error-codes']) ? answer['error-codes'].join(', ') : 'none given';
      this.logger.log(`CAPTCHA token refused (${codes})`);
      throw new AppException(403, 'CAPTCHA_FAILED', 'The CAPTCHA token was not accepted');
    }
  }
}
