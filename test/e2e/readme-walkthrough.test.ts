import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The shell commands between the walkthrough markers of the README, as a new user would paste them. */
function walkthroughScript(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /<!-- walkthrough:start -->([\s\S]*?)<!-- walkthrough:end -->/.exec(readme)?.[1];
  if (!section) throw new Error('README has no walkthrough section');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}

/**
 * Issue 2, acceptance 8: `npm start` (its launcher, on the build the test setup made) brings the
 * service up on an embedded Redis and `/health/ready` answers 200; the README's curl walk-through
 * works as written against the README's demo provider.
 */
describe('README quick start and walk-through', () => {
  let home: string;
  let service: ChildProcess;
  let provider: ChildProcess;
  let apiPort: number;
  let providerPort: number;
  let output = '';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tk-readme-'));
    apiPort = await freePort();
    providerPort = await freePort();
    const { REDIS_URL: _redis, TK_ENCRYPTION_KEYS: _keys, ...inherited } = process.env;
    const env = {
      ...inherited,
      TK_API_PORT: String(apiPort),
      TK_DATA_DIR: join(home, '.data'),
      TK_EMBEDDED_REDIS_PORT: '0',
    };
    service = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    service.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    provider = spawn(process.execPath, ['scripts/demo-provider.mjs'], {
      cwd: ROOT,
      env: { ...process.env, DEMO_PORT: String(providerPort), DEMO_TTL: '60' },
      stdio: 'ignore',
    });
  });

  afterAll(async () => {
    provider?.kill('SIGTERM');
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service.once('exit', resolve));
      service.kill('SIGTERM');
      await exited;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('serves /health/ready = 200 on an embedded Redis', async () => {
    await waitFor(
      async () => {
        if (service.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
        return (
          (await fetch(`http://127.0.0.1:${apiPort}/health/ready`).catch(() => undefined))?.status === 200
        );
      },
      { timeoutMs: 40_000, intervalMs: 200, message: 'service ready' },
    );
    expect(output).toMatch(/embedded/);
  });

  it('runs its embedded Redis on loopback only, with a password, in a private directory', async () => {
    const dataDir = join(home, '.data');
    const redisDir = join(dataDir, 'redis');
    const { port } = JSON.parse(readFileSync(join(redisDir, 'embedded-redis.json'), 'utf8')) as {
      port: number;
    };
    const password = readFileSync(join(redisDir, 'password'), 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(32);
    /** Raw RESP: writes `command`, resolves with what came back once `complete` says so. */
    const send = (host: string, command: string, complete = (s: string) => s.endsWith('\r\n')) =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        const socket = net.connect({ host, port }, () => socket.write(command));
        socket.on('data', (d) => {
          got += d.toString();
          if (!complete(got)) return;
          socket.destroy();
          resolve(got);
        });
        socket.once('error', reject);
      });
    // Without the password: refused.
    expect(await send('127.0.0.1', 'PING\r\n')).toMatch(/^-NOAUTH/);
    expect(await send('127.0.0.1', '*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$3\r\ndir\r\n')).toMatch(/^-NOAUTH/);
    // With it: bound to 127.0.0.1 only.
    const auth = `*2\r\n$4\r\nAUTH\r\n$${password.length}\r\n${password}\r\n`;
    const bind = await send('127.0.0.1', `${auth}*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nbind\r\n`, (s) =>
      /\r\nbind\r\n\$\d+\r\n[^\r]*\r\n$/.test(s),
    );
    expect(bind).toMatch(/^\+OK\r\n\*2\r\n\$4\r\nbind\r\n\$9\r\n127\.0\.0\.1\r\n$/);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    if (external) await expect(send(external, 'PING\r\n')).rejects.toThrow(/ECONNREFUSED/);
    // The directory is private and every file in it 0600: the AOF, the log, the password.
    const modes: string[] = [];
    const walk = (dir: string) => {
      expect(statSync(dir).mode & 0o777, dir).toBe(0o700);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else modes.push(`${(statSync(path).mode & 0o777).toString(8)} ${path.slice(dataDir.length)}`);
      }
    };
    walk(dataDir);
    expect(modes.some((m) => m.includes('appendonly'))).toBe(true);
    expect(modes.some((m) => m.endsWith('/password'))).toBe(true);
    expect(modes.some((m) => m.endsWith('/api-key-hmac-key'))).toBe(true);
    expect(modes.filter((m) => !m.startsWith('600 '))).toEqual([]);
    // The launcher shows the URL without its password.
    expect(output).not.toContain(password);
  });

  it('a second npm start on the same port says so in one line, before starting anything', () => {
    const second = spawnSync(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: { ...process.env, TK_API_PORT: String(apiPort), TK_DATA_DIR: join(home, 'second') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(second.status).toBe(1);
    const said = `${second.stdout}${second.stderr}`.trim();
    expect(said.split('\n')).toHaveLength(1);
    expect(said).toContain(`port ${apiPort} is already in use`);
    expect(said).not.toContain('API is up');
    expect(said).not.toContain('EADDRINUSE');
  });

  it('runs the walk-through as written', async () => {
    const script = walkthroughScript()
      .replaceAll('localhost:8080', `127.0.0.1:${apiPort}`)
      .replaceAll('127.0.0.1:9090', `127.0.0.1:${providerPort}`)
      .replaceAll('/tmp/tk-cred.json', join(home, 'cred.json'))
      .replaceAll('cat .data/admin-key', `cat ${join(home, '.data/admin-key')}`);
    await waitFor(
      async () =>
        (
          await fetch(`http://127.0.0.1:${providerPort}/.well-known/openid-configuration`).catch(
            () => undefined,
          )
        )?.ok,
      {
        timeoutMs: 10_000,
        message: 'demo provider up',
      },
    );
    // In the clone, as a new user runs it (`npx tokenkeeper` finds the clone's own command).
    const run = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], {
      cwd: ROOT,
      env: {
        ...process.env,
        PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`,
        XDG_CONFIG_HOME: join(home, 'config'),
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('"accessToken"');
    expect(run.stdout).toContain('"state":"active"');
    expect(run.stdout).toContain('"type":"token.updated"');
    // The command line, as `npx tokenkeeper` from the clone: the credential listed, its token printed.
    expect(run.stdout).toMatch(/ID\s+NAME\s+KIND\s+STATE/);
    expect(run.stdout).toMatch(/demo\s+oauth2\.client_credentials\s+active/);
  });

  it('stops cleanly on SIGTERM, taking the embedded Redis with it', async () => {
    const exited = new Promise<number | null>((resolve) => service.once('exit', (code) => resolve(code)));
    service.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
