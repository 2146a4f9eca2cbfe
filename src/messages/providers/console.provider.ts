import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { maskPhone } from '../../common/mask';
import type { MessageRow } from '../message.types';
import type { MessageProvider, SendResult } from './provider';

/** Development provider: logs that a message went out (never its body) and reports it delivered. */
export class ConsoleProvider implements MessageProvider {
  readonly name = 'console';
  private readonly logger = new Logger('ConsoleProvider');

  async send(m: MessageRow): Promise<SendResult> {
    const to = m.type === 'email' ? m.to.replace(/^(.).*@/, '$1***@') : maskPhone(m.to);
    this.logger.debug(`${m.type} ${m.id} to ${to} (${m.body.length} characters)`);
    return { providerMessageId: `console-${randomUUID()}`, deliveredNow: true };
  }
}
