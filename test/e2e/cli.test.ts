import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../apps/cli/src/exit-codes.js';
import type { CredentialView, EventBody } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import * as processes from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = 'dist/apps/cli/src/main.js';
/** The api's bootstrap admin key: from the test support once API keys exist, else none needed. */
const ADMIN_KEY: string | undefined = (processes as { TEST_ADMIN_KEY?: string }).TEST_ADMIN_KEY;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Issue 6, acceptance 4: the `tokenkeeper` CLI as a real process (compiled, `node dist/...`)
 * against a running api + worker + oidc-provider, with HOME and XDG_CONFIG_HOME in a temp dir.
 * Every command's exit code is checked.
 */
describe('tokenkeeper CLI against a running system', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let home: string;
  const background: ChildProcess[] = [];

  const env = () => ({ PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config') });

  /** Starts the CLI; resolves with its exit code and output. */
  function start(args: string[], extraEnv: Record<string, string> = {}) {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...env(), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => {
      out.stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out.stderr += d.toString();
    });
    const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, ...out })));
    return { child, out, done };
  }

  const tk = (...args: string[]) => start(args).done;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'tk-cli-e2e-'));
    oauth = await startOAuthServer({ accessTokenTtl: 120, rotateRefreshToken: true });
    stack = await startStack({ name: 'cli', env: { TK_SWEEP_INTERVAL_MS: '5000' } });
  });

  afterAll(async () => {
    for (const c of background) c.kill('SIGKILL');
    await stack?.stop();
    await oauth?.stop();
    await rm(home, { recursive: true, force: true });
  });

  const show = async (id: string) => {
    const r = await tk('creds', 'show', id, '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as CredentialView;
  };

  it('usage errors exit 1, an unreachable API exits 5', async () => {
    const bad = await tk('creds', 'frobnicate');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown command 'frobnicate'");
    const down = await start(['creds', 'ls'], { TOKENKEEPER_URL: 'http://127.0.0.1:9' }).done;
    expect(down.code).toBe(5);
    expect(down.stderr).toContain('cannot reach the tokenkeeper API');
  });

  it('runs as the package command straight from the build (executable), and a closed pipe ends it quietly', async () => {
    // npm marks a bin executable only when it links it, and `npx` reuses a link from its cache:
    // the build itself must leave the command executable, or `npx tokenkeeper` fails after a rebuild.
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const command = pkg.bin.tokenkeeper;
    expect(command).toBeDefined();
    for (const file of Object.values(pkg.bin)) {
      expect((await stat(join(ROOT, file))).mode & 0o111, `${file} is executable`).toBe(0o111);
    }
    const direct = spawnSync(join(ROOT, command ?? ''), ['--version'], {
      env: env(),
      encoding: 'utf8',
    });
    expect(direct.status, direct.stderr).toBe(0);
    expect(direct.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    // A reader that is gone before the command writes (`| true`): no EPIPE stack trace, exit 0.
    const piped = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" ${CLI} --help | true`], {
      cwd: ROOT,
      env: env(),
      encoding: 'utf8',
    });
    expect(piped.stderr).toBe('');
    expect(piped.status).toBe(0);
  });

  let userKey: string | undefined;

  it('logs in (config file 0600), creating a scoped API key with the admin key when keys exist', async () => {
    if (ADMIN_KEY) {
      const created = await start(
        [
          'keys',
          'create',
          '--name',
          'cli-e2e',
          ...['credentials:read', 'credentials:write', 'token:read', 'events:read'].flatMap((s) => [
            '--scope',
            s,
          ]),
        ],
        { TOKENKEEPER_URL: stack.url, TOKENKEEPER_API_KEY: ADMIN_KEY },
      ).done;
      expect(created.code, created.stderr).toBe(0);
      userKey = created.stdout.trim();
      expect(userKey).toMatch(/^tk_\S+$/);
      expect(created.stderr).toContain('only time the key is shown');
    }
    const wrong = await tk('login', '--url', stack.url, '--api-key', 'tk_wrong-key-0000000000000000');
    if (ADMIN_KEY) expect(wrong.code).toBe(4);
    const login = await tk(
      'login',
      '--url',
      stack.url,
      ...(userKey ? ['--api-key', userKey] : ['--no-verify']),
    );
    expect(login.code, login.stderr).toBe(0);
    const config = join(home, '.config', 'tokenkeeper', 'config.json');
    expect((await stat(config)).mode & 0o777).toBe(0o600);
  });

  let id = '';

  it('adds a credential, lists it as a table and as JSON, and gets its token', async () => {
    const issued = await oauth.issueRefreshToken('basic');
    const secrets = join(home, 'secrets');
    await mkdir(secrets, { mode: 0o700 });
    await writeFile(join(secrets, 'rt'), issued.refreshToken);
    await writeFile(join(secrets, 'cs'), oauth.clients.basic.clientSecret);
    const add = await tk(
      'creds',
      'add',
      '--name',
      'cli-basic',
      '--label',
      'team=cli',
      '--issuer',
      oauth.issuer,
      '--client-id',
      oauth.clients.basic.clientId,
      '--client-auth',
      'client_secret_basic',
      '--client-secret',
      `@${join(secrets, 'cs')}`,
      '--refresh-token',
      `@${join(secrets, 'rt')}`,
    );
    expect(add.code, add.stderr).toBe(0);
    id = add.stdout.trim();
    expect(id).toMatch(/^cred_/);
    await waitFor(async () => (await show(id)).state === 'active', { timeoutMs: 20_000, message: 'active' });

    const table = await tk('creds', 'ls', '--label', 'team=cli');
    expect(table.code, table.stderr).toBe(0);
    const [header, row] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+KIND\s+STATE\s+VER\s+EXPIRES/);
    expect(row).toContain(id);
    expect(row).toContain('cli-basic');
    expect(row).toMatch(/active\s+1\s+in \dm\d\ds/);

    const asJson = await tk('creds', 'ls', '--json');
    expect(asJson.code).toBe(0);
    const items = JSON.parse(asJson.stdout) as CredentialView[];
    expect(items.find((c) => c.id === id)?.state).toBe('active');

    const human = await tk('creds', 'show', id);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/state:\s+active/);

    const token = await tk('token', 'get', id, '--min-ttl', '30');
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(/^\S+\n$/);
    expect((await oauth.introspect(token.stdout.trim())).active).toBe(true);
    expect(token.stdout).not.toContain(issued.refreshToken);

    const missing = await tk('token', 'get', 'cred_doesnotexist000');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('not found');
  });

  it('tails events across a refresh, and exits 0 on SIGTERM', async () => {
    const tail = start(['events', 'tail', '--follow', '--credential', id, '--json', '--interval', '200']);
    background.push(tail.child);
    const lines = () =>
      tail.out.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as EventBody);
    await waitFor(() => lines().some((e) => e.type === 'token.updated' && e.data.tokenVersion === 1), {
      timeoutMs: 15_000,
      message: `first token.updated in the tail (stderr: ${tail.out.stderr})`,
    });
    expect(lines()[0]?.type).toBe('credential.registered');

    const refresh = await tk('creds', 'refresh', id, '--wait', '20');
    expect(refresh.code, refresh.stderr).toBe(0);
    expect((await show(id)).tokenVersion).toBe(2);
    await waitFor(() => lines().some((e) => e.type === 'token.updated' && e.data.tokenVersion === 2), {
      timeoutMs: 15_000,
      message: 'token.updated v2 in the tail',
    });
    expect(lines().every((e) => e.credentialId === id)).toBe(true);
    tail.child.kill('SIGTERM');
    expect((await tail.done).code).toBe(0);

    const once = await tk('events', 'tail', '--credential', id, '--type', 'token.updated');
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout.trim().split('\n')).toHaveLength(2);
    expect(once.stdout).toMatch(new RegExp(`${id}\\s+token\\.updated\\s+v2\\s+expires in`));
  });

  it('imports a folder of three .oauth-tokens files', async () => {
    const dir = join(home, '.oauth-tokens');
    await mkdir(dir, { mode: 0o700 });
    for (const name of ['github', 'notion', 'linear']) {
      const t = await oauth.issueRefreshToken('public');
      await writeFile(
        join(dir, `${name}.json`),
        JSON.stringify({
          access_token: t.accessToken,
          refresh_token: t.refreshToken,
          expires_at: Math.floor(Date.now() / 1000) + t.expiresIn,
          token_type: t.tokenType,
          scope: t.scope,
          client_id: oauth.clients.public.clientId,
        }),
        { mode: 0o600 },
      );
    }
    await writeFile(join(dir, 'README.txt'), 'not a token file');

    const dry = await tk('import', 'oauth-tokens', dir, '--dry-run', '--token-endpoint', oauth.tokenEndpoint);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would import');

    const imp = await tk(
      'import',
      'oauth-tokens',
      dir,
      '--token-endpoint',
      oauth.tokenEndpoint,
      '--label',
      'batch=e2e',
      '--json',
    );
    expect(imp.code, imp.stderr).toBe(0);
    const results = JSON.parse(imp.stdout) as { file: string; id?: string; error?: string }[];
    expect(results.map((r) => r.file.split('/').pop())).toEqual([
      'github.json',
      'linear.json',
      'notion.json',
    ]);
    expect(results.every((r) => r.id?.startsWith('cred_') && !r.error)).toBe(true);

    const listed = await tk('creds', 'ls', '--label', 'batch=e2e', '--json');
    expect(listed.code).toBe(0);
    const creds = JSON.parse(listed.stdout) as CredentialView[];
    expect(creds.map((c) => c.name).sort()).toEqual(['github', 'linear', 'notion']);
    // Imported with their current access tokens: active at once, expiring when the files said.
    expect(creds.every((c) => c.state === 'active' && c.expiresAt)).toBe(true);
    for (const c of creds) {
      const token = await tk('token', 'get', c.id);
      expect(token.code, token.stderr).toBe(0);
    }

    const broken = join(home, 'broken');
    await mkdir(broken);
    await writeFile(join(broken, 'a.json'), JSON.stringify({ access_token: 'x' }));
    const failed = await tk('import', 'oauth-tokens', broken, '--token-endpoint', oauth.tokenEndpoint);
    expect(failed.code).toBe(2);
    expect(failed.stdout).toContain('no refresh_token');
  });

  it('removes a credential; it is gone afterwards', async () => {
    const rm = await tk('creds', 'rm', id);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stderr).toContain(`removed ${id}`);
    const gone = await tk('creds', 'show', id);
    expect(gone.code).toBe(3);
    const again = await tk('creds', 'rm', id);
    expect(again.code).toBe(3);
  });

  it('a reader gone before the command finished ends it quietly, never as a success', async () => {
    const listed = await tk('creds', 'ls', '--label', 'batch=e2e', '--json');
    const first = (JSON.parse(listed.stdout) as CredentialView[])[0]!;
    // `tokenkeeper creds rm A B 2>&1 | head -0`: the note about A meets a closed pipe while B is
    // still to do (and B, removed above, would fail): the command did not complete.
    const child = spawn(process.execPath, [CLI, 'creds', 'rm', first.id, id], {
      cwd: ROOT,
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.resume();
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(ExitCode.ClosedPipe);
    expect((await tk('creds', 'show', first.id)).code).toBe(3);
  });

  it('lists and revokes API keys; a revoked key exits 4', async () => {
    if (!ADMIN_KEY || !userKey) return;
    const admin = { TOKENKEEPER_URL: stack.url, TOKENKEEPER_API_KEY: ADMIN_KEY };
    const ls = await start(['keys', 'ls', '--json'], admin).done;
    expect(ls.code, ls.stderr).toBe(0);
    const keys = JSON.parse(ls.stdout) as { id: string; name: string }[];
    const mine = keys.find((k) => k.name === 'cli-e2e');
    expect(mine).toBeDefined();
    const table = await start(['keys', 'ls'], admin).done;
    expect(table.stdout).toMatch(/^ID\s+NAME\s+SCOPES/);
    expect(table.stdout).not.toContain(userKey);
    const revoke = await start(['keys', 'revoke', mine!.id], admin).done;
    expect(revoke.code, revoke.stderr).toBe(0);
    await waitFor(async () => (await tk('creds', 'ls')).code === 4, {
      timeoutMs: 5000,
      message: 'revoked key refused',
    });
    const refused = await tk('creds', 'ls');
    expect(refused.stderr).toContain('tokenkeeper login');
  });
});
