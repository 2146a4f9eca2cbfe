// Launches a headless Chromium for the browser tests, and collects what a page reports as broken: script
// errors, failed loads, CSP violations. The binary comes from npm (@sparticuz/chromium ships a
// self-contained build for Linux x64), so a fresh clone needs no `apt` step; CHROMIUM_PATH picks another.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Locator, Page } from 'playwright-core';

export const SCREENSHOTS = join(__dirname, '..', 'browser', 'screenshots');

/**
 * The Chromium to drive: CHROMIUM_PATH when set, else the npm package's binary, unpacked to the temporary
 * directory on first use. The package is an ES module, which Jest's module loader cannot require, so a
 * plain Node process asks it for the path.
 */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const script =
    "import('@sparticuz/chromium').then(async (m) => process.stdout.write(await m.default.executablePath()))";
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120000 }).trim();
}

/**
 * Fails (never skips) when no Chromium can be had: a broken setup, not a reason to pass.
 * `hostAliases` resolve to 127.0.0.1 inside this browser only, so a test can open the service by a name.
 */
export async function launchChromium(hostAliases: string[] = []): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath))
    throw new Error(
      `chromium not found at ${executablePath}: run npm ci, or set CHROMIUM_PATH to a Chromium binary`,
    );
  const args = [
    '--no-sandbox',
    '--no-zygote', // the npm build runs without the zygote helper (it has no setuid sandbox to start)
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  if (hostAliases.length)
    args.push(`--host-resolver-rules=${hostAliases.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath, headless: true, timeout: 60000, args });
}

/** Collects everything the page complains about from now on, except messages matching `ignore`. */
export function pageProblems(page: Page, ignore: RegExp[] = []): string[] {
  const problems: string[] = [];
  const note = (p: string) => {
    if (!ignore.some((re) => re.test(p))) problems.push(p);
  };
  page.on('pageerror', (err) => note(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') note(`console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) =>
    note(`request failed: ${req.method()} ${req.url()} (${req.failure()?.errorText})`),
  );
  return problems;
}

/** Saves test/browser/screenshots/{name}.png: the whole page, or just one element of it. */
export async function screenshot(target: Page | Locator, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await ('goto' in target ? target.screenshot({ path, fullPage: true }) : target.screenshot({ path }));
}
