import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView } from '../support/api-types.js';
import { TEST_ADMIN_KEY } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
/**
 * Flags that work on these machines: no sandbox as root, and no calls home (the network is
 * closed). Playwright starts every launch on a new empty profile directory of its own (it refuses
 * `--user-data-dir` in `args`).
 */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));

/**
 * Debian's chromium, installed here when CI has not done it already (`.ci/run` has a step for
 * it). Nothing is skipped: if it cannot be installed the test fails and says why.
 */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const apt = (...args: string[]) =>
    spawnSync('apt-get', args, {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 600_000,
    });
  let out = apt('install', '-y', 'chromium');
  if (out.status !== 0) {
    apt('update');
    out = apt('install', '-y', 'chromium');
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing and "apt-get install -y chromium" did not install it ` +
        `(exit ${out.status}${out.error ? `, ${out.error.message}` : ''}; needs root and Debian's package index):\n` +
        `${(out.stdout ?? '').slice(-1500)}${(out.stderr ?? '').slice(-1500)}`,
    );
  }
}

/**
 * Issue 6, acceptance 3: an operator opens Bull Board at /queues in a real browser (Debian's
 * chromium driven by playwright-core), signs in with an admin key over HTTP Basic, sees the
 * refresh queue's delayed jobs, and the job data there is ids only. Without credentials the
 * page is refused.
 */
describe('Bull Board in a real browser', () => {
  let stack: Stack;
  let browser: Browser;
  const secrets: string[] = [];
  const ids: string[] = [];

  beforeAll(async () => {
    ensureChromium();
    stack = await startStack({ name: 'board', workers: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      timeout: 60_000,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('shows the token-refresh queue and its delayed jobs to an admin, with ids only', async () => {
    // Tokens supplied at registration with an hour to live: each leaves a delayed refresh job
    // (no worker runs here, so they stay delayed).
    const client = stack.admin;
    for (let i = 0; i < 3; i++) {
      const s = {
        accessToken: `board-access-token-${i}-${'a'.repeat(24)}`,
        refreshToken: `board-refresh-token-${i}-${'r'.repeat(24)}`,
        clientSecret: `board-client-secret-${i}-${'s'.repeat(24)}`,
      };
      secrets.push(...Object.values(s));
      const reg = await client.post<CredentialView>('/v1/credentials', {
        kind: 'oauth2.refresh_token',
        name: `board-${i}`,
        tokenEndpoint: 'http://127.0.0.1:9/token',
        clientId: 'board-client',
        clientAuth: 'client_secret_basic',
        ...s,
        expiresIn: 3600,
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
      ids.push(reg.body.id);
    }

    const context = await browser.newContext({
      httpCredentials: { username: 'operator', password: TEST_ADMIN_KEY },
      viewport: { width: 1400, height: 1000 },
    });
    const page = await context.newPage();
    const home = await page.goto(`${stack.url}/queues`);
    expect(home?.status()).toBe(200);
    await page.getByText('token-refresh').first().waitFor({ timeout: 30_000 });

    // The queue's Delayed tab lists one job per credential, its data ids and times only.
    await page.goto(`${stack.url}/queues/queue/token-refresh?status=delayed`);
    for (const id of ids) await page.getByText(id).first().waitFor({ timeout: 30_000 });
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).toMatch(/delayed/i);
    const html = await page.content();
    for (const secret of secrets) {
      expect(html, 'a secret shows on the Bull Board page').not.toContain(secret);
      expect(text).not.toContain(secret);
    }
    expect(html).not.toContain(TEST_ADMIN_KEY);
    // The data shown is the job payload: ids, versions and times, no secret-bearing field at all.
    expect(text).toContain('credentialId');
    expect(text).not.toMatch(/accessToken|refreshToken|clientSecret/);

    mkdirSync(RESULTS, { recursive: true });
    const screenshot = join(RESULTS, 'bull-board-token-refresh-delayed.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(existsSync(screenshot)).toBe(true);
    await context.close();
  });

  it('refuses the page without admin credentials (401), and with a wrong key', async () => {
    // Headless chromium shows no sign-in dialog: a 401 with a Basic challenge ends the navigation
    // with ERR_INVALID_AUTH_CREDENTIALS; the response itself is what the server said.
    const visit = async (context: BrowserContext, path: string) => {
      const page = await context.newPage();
      const responses: Response[] = [];
      page.on('response', (r) => responses.push(r));
      const error = await page.goto(`${stack.url}${path}`).then(
        () => undefined,
        (err: Error) => err.message,
      );
      const response = responses.find((r) => r.url().startsWith(`${stack.url}${path}`));
      return {
        error,
        status: response?.status(),
        challenge: response?.headers()['www-authenticate'],
        body: (await response?.text().catch(() => '')) ?? '',
      };
    };

    const anonymous = await browser.newContext();
    const refused = await visit(anonymous, '/queues');
    expect(refused.status).toBe(401);
    expect(refused.challenge).toMatch(/^Basic /);
    expect(refused.error ?? '').toMatch(/ERR_INVALID_AUTH_CREDENTIALS|^$/);
    expect(refused.body).not.toContain('token-refresh');
    await anonymous.close();

    const wrong = await browser.newContext({
      httpCredentials: { username: 'operator', password: 'tk_not-a-real-key-0000000000000000' },
    });
    const wrongVisit = await visit(wrong, '/queues/queue/token-refresh');
    expect(wrongVisit.status).toBe(401);
    expect(wrongVisit.body).not.toContain('refresh-cred_');
    await wrong.close();
  });
});
