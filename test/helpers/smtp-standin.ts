// A local SMTP server (the smtp-server package) that keeps every message it accepts.
import { SMTPServer } from 'smtp-server';

export class SmtpStandIn {
  readonly messages: { from: string; to: string[]; raw: string }[] = [];
  rejectNext = 0;
  private server!: SMTPServer;
  port = 0;

  static async start(): Promise<SmtpStandIn> {
    const s = new SmtpStandIn();
    s.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        let raw = '';
        stream.on('data', (d) => (raw += d));
        stream.on('end', () => {
          if (s.rejectNext > 0) {
            s.rejectNext--;
            const err = Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
            return callback(err);
          }
          s.messages.push({
            from: (session.envelope.mailFrom as { address: string }).address,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
          });
          callback();
        });
      },
    });
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.port = (s.server.server.address() as { port: number }).port;
    return s;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
