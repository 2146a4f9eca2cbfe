// Launches Debian's chromium (not a Playwright download) headless for the browser tests, and collects what
// a page reports as broken: script errors, failed loads, CSP violations.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium, Locator, Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(__dirname, '..', 'browser', 'screenshots');

/**
 * Fails (never skips) when chromium is missing: CI installs it, so its absence is a broken setup.
 * `hostAliases` resolve to 127.0.0.1 inside this browser only, so a test can open the service by a name.
 */
export async function launchChromium(hostAliases: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `chromium not found at ${CHROMIUM_PATH}: install it (apt-get install chromium, as .ci/run does) ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome binary',
    );
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  if (hostAliases.length)
    args.push(`--host-resolver-rules=${hostAliases.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, timeout: 60000, args });
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
