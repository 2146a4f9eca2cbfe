// A typed client generated from openapi.json (openapi-typescript, called through openapi-fetch) type-checks one
// call per tag, and a wrong call fails the check: the document is good enough to build a client on.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

const CALLS = `
import createClient from 'openapi-fetch';
import type { paths } from './schema';

const api = createClient<paths>({ baseUrl: 'http://localhost:3000', headers: { 'X-API-Key': 'k' } });

export async function onePerTag(): Promise<unknown[]> {
  const health = await api.GET('/health/live');
  const onboarding = await api.GET('/onboard/register/{mobile_number}', { params: { path: { mobile_number: '+919876543210' } } });
  const hash: string | undefined = onboarding.data?.hash;
  const otp = await api.POST('/otp/send', { body: { mobile_number: '+919876543210', channel: 'sms', ip: '203.0.113.7' } });
  const expires: number | undefined = otp.data?.expires_in_seconds;
  const verified = await api.POST('/otp/verify', { body: { mobile_number: '+919876543210', otp: '123456' } });
  const token: string | undefined = verified.data?.access_token;
  const message = await api.POST('/api/v1/messages/send', { body: { to: '+919876543210', type: 'sms', body: 'hi' } });
  const id: string | undefined = message.data?.id;
  const session = await api.POST('/sessions', { body: { user_id: 'user-42' } });
  const sid: string | undefined = session.data?.session_id;
  const me = await api.GET('/auth/me', { headers: { Authorization: 'Bearer jwt' } });
  const blacklist = await api.GET('/admin/blacklist', { params: { query: { limit: 10 } } });
  const source: 'auto' | 'manual' | undefined = blacklist.data?.items[0]?.source;
  const webhooks = await api.POST('/webhooks/twilio/status', {
    params: { header: { 'X-Twilio-Signature': 'signature' } },
    body: { MessageSid: 'SM1', MessageStatus: 'delivered' } as never,
  });
  const error: string | undefined = otp.error?.code;
  return [health, hash, expires, token, id, sid, me, source, webhooks, error];
}
`;

function typeCheck(dir: string, source: string): string[] {
  const file = join(dir, 'calls.ts');
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    skipLibCheck: true,
    typeRoots: [],
    baseUrl: ROOT,
    paths: { 'openapi-fetch': [join(ROOT, 'node_modules', 'openapi-fetch')] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('a typed client generated from openapi.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smsb-client-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(() => {
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
        join(ROOT, 'openapi.json'),
        '-o',
        join(dir, 'schema.d.ts'),
      ],
      { stdio: 'pipe' },
    );
  }, 60000);

  it('names every operation with a stable, unique operationId', () => {
    const doc = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8'));
    const ids = Object.values<Record<string, { operationId: string }>>(doc.paths).flatMap((item) =>
      Object.values(item).map((op) => op.operationId),
    );
    expect(ids.every((id) => /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('type-checks one call per tag', () => {
    expect(typeCheck(dir, CALLS)).toEqual([]);
  }, 60000);

  it('refuses a call the document does not allow', () => {
    const wrong = CALLS.replace("channel: 'sms', ip", "channel: 'fax', ip");
    expect(typeCheck(dir, wrong).join('\n')).toMatch(/fax/);
  }, 60000);
});
