// The two pages people open in a browser, in a real headless chromium against the built API process: Swagger
// UI at /docs (every tag shown, "Try it out" works) and the queue dashboard at /admin/queues (admin key only).
// The browser reaches the API by a host name over plain HTTP, as on a compose host or a LAN server (chromium
// treats 127.0.0.1 and localhost as secure and forgives what such a name does not), and PUBLIC_BASE_URL is the
// public URL providers call back, not the address the browser uses.
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { DASHBOARD_PATH } from '../../src/messages/queue-dashboard';
import { QueueName } from '../../src/workers/job-catalogue';
import { launchChromium, pageProblems, screenshot } from '../helpers/chromium';
import { ServiceProcess, serviceEnv, spawnService, waitForHttp } from '../helpers/processes';
import { freePort } from '../helpers/redis-server';
import { removeKeys } from '../helpers/test-app';
import { TEST_ADMIN_KEY, TEST_CLIENT_KEY, testConfig } from '../helpers/test-env';

const WAIT = 30000;
const HOST = 'sms-bridge.test';

// Chromium says so on every page served over plain HTTP to a name that is not localhost; the header is
// helmet's and is right for the HTTPS deployments it is meant for.
const PLAIN_HTTP_NOTICE = /Cross-Origin-Opener-Policy header has been ignored/;

describe('in a real browser', () => {
  let local: string; // what this test process fetches
  let base: string; // what the browser opens
  let prefix: string | undefined;
  let api: ServiceProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  const newPage = async (opts: BrowserContextOptions = {}) => {
    const ctx = await browser!.newContext({ viewport: { width: 1280, height: 900 }, ...opts });
    contexts.push(ctx);
    ctx.setDefaultTimeout(WAIT);
    ctx.setDefaultNavigationTimeout(WAIT);
    return ctx.newPage();
  };

  beforeAll(async () => {
    browser = await launchChromium([HOST]);
    const port = await freePort();
    local = `http://127.0.0.1:${port}`;
    base = `http://${HOST}:${port}`;
    const env = serviceEnv(port, { APP_ROLE: 'api', PUBLIC_BASE_URL: 'https://sms-bridge.example.com' });
    prefix = env.REDIS_KEY_PREFIX;
    api = spawnService('main', env);
    try {
      await waitForHttp(`${local}/health/live`, 200, WAIT);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nAPI output:\n${api.output()}`);
    }
  }, 120000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await browser?.close().catch(() => undefined);
    await api?.stop();
    if (prefix) await removeKeys(testConfig({ REDIS_KEY_PREFIX: prefix })).catch(() => undefined);
  }, 60000);

  describe('Swagger UI at /docs', () => {
    it('shows a section for every tag of the OpenAPI document', async () => {
      const doc: any = await (await fetch(`${local}/docs-json`)).json();
      const tags = new Set<string>((doc.tags ?? []).map((t: { name: string }) => t.name));
      for (const item of Object.values<any>(doc.paths))
        for (const op of Object.values<any>(item)) for (const t of op.tags ?? []) tags.add(t);
      expect(tags.size).toBeGreaterThan(0);

      const page = await newPage();
      const problems = pageProblems(page, [PLAIN_HTTP_NOTICE]);
      expect((await page.goto(`${base}/docs`))?.status()).toBe(200);
      await page.locator('.swagger-ui .information-container .title', { hasText: 'sms-bridge' }).waitFor();
      for (const tag of tags) {
        const section = page.locator('.opblock-tag-section').filter({
          has: page.locator(`h3.opblock-tag[data-tag="${tag}"]`),
        });
        await section.locator('.opblock').first().waitFor(); // the tag's operations are listed under it
      }
      await screenshot(page, 'docs');
      expect(problems).toEqual([]);
    });

    /** Opens an operation in the page, presses "Try it out" then "Execute", and returns the live status cell. */
    const tryItOut = async (page: Page, method: string, path: string) => {
      const op = page.locator(`.opblock-${method}`).filter({
        has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
      });
      await op.locator('button.opblock-summary-control').click();
      await op.locator('button.try-out__btn').click();
      await op.locator('button.execute').click();
      // The live answer's row (not the documented responses below it, nor the table header).
      const status = op.locator('.live-responses-table tbody tr.response .response-col_status');
      await status.waitFor();
      return { op, status: (await status.textContent())?.trim() };
    };

    it('"Try it out" on GET /health sends the request and shows 200', async () => {
      const page = await newPage();
      const problems = pageProblems(page, [PLAIN_HTTP_NOTICE]);
      await page.goto(`${base}/docs`);
      const { op, status } = await tryItOut(page, 'get', '/health');
      await screenshot(op, 'docs-try-health');
      expect(status).toBe('200');
      expect(problems).toEqual([]);
    });

    it('sends the key entered in the Authorize dialog: GET /admin/settings goes from 401 to 200', async () => {
      const page = await newPage();
      const problems = pageProblems(page, [PLAIN_HTTP_NOTICE]);
      await page.goto(`${base}/docs`);
      const { op, status } = await tryItOut(page, 'get', '/admin/settings');
      expect(status).toBe('401');
      expect(problems).toEqual([
        'console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)',
      ]);
      problems.length = 0;

      await page.locator('.scheme-container button.authorize').click();
      const scheme = page.locator('.modal-ux .auth-container').filter({ hasText: 'X-API-Key' });
      await scheme.locator('input').fill(TEST_ADMIN_KEY);
      await scheme.locator('button.authorize').click();
      await scheme.getByText('Authorized').waitFor();
      await scheme.locator('button.btn-done').click();
      await page.locator('.modal-ux').waitFor({ state: 'detached' });

      await op.locator('button.execute').click();
      await op
        .locator('.live-responses-table tbody tr.response .response-col_status', { hasText: /^\s*200\s*$/ })
        .waitFor();
      await screenshot(op, 'docs-try-admin-settings');
      expect(problems).toEqual([]);
    });
  });

  describe(`the queue dashboard at ${DASHBOARD_PATH}`, () => {
    // bull-board's page asks Google Fonts for a typeface; the dashboard's CSP keeps an admin page from
    // calling third parties, so that one load is refused and the page falls back to a system font.
    const GOOGLE_FONTS = /fonts\.googleapis\.com/;

    it('refuses a browser without a key (401, with a Basic challenge) and one with a client key (403)', async () => {
      const url = `${base}${DASHBOARD_PATH}`;
      const bare = await newPage();
      // With no credentials to offer, the browser gives up on the challenge and the navigation itself
      // errors out; the refusal is the document's response.
      const answered = bare.waitForResponse((r) => r.url() === url);
      await bare.goto(url).catch(() => undefined);
      const refused = await answered;
      expect(refused.status()).toBe(401);
      expect(refused.headers()['www-authenticate']).toMatch(/^Basic /);

      const client = await newPage({ httpCredentials: { username: 'client', password: TEST_CLIENT_KEY } });
      expect((await client.goto(url))?.status()).toBe(403);
    });

    it('shows every queue to a browser signed in with the admin key (HTTP Basic)', async () => {
      const page = await newPage({ httpCredentials: { username: 'admin', password: TEST_ADMIN_KEY } });
      const problems = pageProblems(page, [PLAIN_HTTP_NOTICE, GOOGLE_FONTS]);
      expect((await page.goto(`${base}${DASHBOARD_PATH}`))?.status()).toBe(200);
      const queues = Object.values(QueueName);
      for (const name of queues) {
        // In the side menu and as a card in the overview; both come from the dashboard's API calls, so
        // this also proves those calls carry the key.
        await page.locator('aside nav').getByRole('link', { name, exact: true }).waitFor();
        await page.locator('main').getByRole('link', { name, exact: true }).waitFor();
      }
      await screenshot(page, 'queues');

      // A queue's own page, opened directly (a reload or a shared link), is served under the prefix too.
      expect((await page.goto(`${base}${DASHBOARD_PATH}/queue/${QueueName.Sms}`))?.status()).toBe(200);
      await page.locator('header').getByText(QueueName.Sms, { exact: true }).waitFor();
      await screenshot(page, 'queues-sms');
      expect(problems).toEqual([]);
    });
  });
});
