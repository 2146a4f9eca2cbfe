// End-user access tokens: HS256 JWTs signed with JWT_SECRET, carrying sub (user), sid (session), jti and exp.
// A token is only as good as its session: the guard also checks the deny-list and that the session exists.
import { Injectable } from '@nestjs/common';
import { JsonWebTokenError, sign, TokenExpiredError, verify } from 'jsonwebtoken';
import { createSecretKey, KeyObject, randomUUID } from 'node:crypto';
import { AppException } from '../common/app.exception';
import { AppConfig } from '../config/app-config';
import { SESSION_ID_PATTERN } from './session-record';
import type { TokenClaims } from './session.service';

const ALGORITHM = 'HS256' as const;

export interface IssuedToken {
  access_token: string;
  /** Seconds until the token expires. */
  expires_in: number;
}

@Injectable()
export class TokenService {
  /**
   * A KeyObject made once: given a string, jsonwebtoken first tries to read it as a PEM private key, and the
   * exception that throws on every sign was 20 % of the CPU of an OTP-verify load in a profile.
   */
  private readonly secret: KeyObject;
  private readonly ttlSec: number;

  constructor(config: AppConfig) {
    this.secret = createSecretKey(Buffer.from(config.secrets.jwt));
    this.ttlSec = config.sessions.accessTokenTtlSec;
  }

  /** Issues a token for a user's session (OTP verification calls this after SessionService.create). */
  issue(userId: string, sessionId: string): IssuedToken {
    const access_token = sign({ sid: sessionId }, this.secret, {
      algorithm: ALGORITHM,
      subject: userId,
      jwtid: randomUUID(),
      expiresIn: this.ttlSec,
    });
    return { access_token, expires_in: this.ttlSec };
  }

  /** Checks the signature (HS256 only: no "none", no algorithm swap) and expiry, and reads the claims. */
  verify(token: string): TokenClaims {
    let payload: unknown;
    try {
      payload = verify(token, this.secret, { algorithms: [ALGORITHM] });
    } catch (err) {
      if (err instanceof TokenExpiredError) {
        throw new AppException(401, 'TOKEN_EXPIRED', 'This access token has expired');
      }
      if (err instanceof JsonWebTokenError) {
        throw new AppException(401, 'TOKEN_INVALID', 'This access token is not valid');
      }
      throw err;
    }
    const p = payload as Partial<Record<keyof TokenClaims, unknown>>;
    if (
      typeof p.sub !== 'string' ||
      !p.sub ||
      typeof p.sid !== 'string' ||
      !SESSION_ID_PATTERN.test(p.sid) ||
      typeof p.jti !== 'string' ||
      !p.jti ||
      typeof p.exp !== 'number'
    ) {
      throw new AppException(401, 'TOKEN_INVALID', 'This access token is not valid');
    }
    return { sub: p.sub, sid: p.sid, jti: p.jti, exp: p.exp };
  }
}
