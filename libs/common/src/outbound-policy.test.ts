import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboundFetch } from './outbound-fetch.js';
import { classifyAddress, embeddedIPv4, OutboundPolicy, OutboundPolicyError } from './outbound-policy.js';

const strict = new OutboundPolicy({
  allowHttpHosts: [],
  allowPrivate: false,
  allowLoopback: false,
  allowCidrs: [],
});

async function refusal(policy: OutboundPolicy, url: string): Promise<string | undefined> {
  try {
    await policy.checkUrl(url);
    return undefined;
  } catch (err) {
    if (err instanceof OutboundPolicyError) return err.rule;
    throw err;
  }
}

describe('classifyAddress', () => {
  it.each([
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['[::ffff:a9fe:a9fe]', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['169.254.1.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['0.0.0.0', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['ff02::1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['2606:4700::1111', 'public'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('extracts only embedded IPv4 forms', () => {
    expect(embeddedIPv4('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(embeddedIPv4('::ffff:0102:0304')).toBe('1.2.3.4');
    expect(embeddedIPv4('2001:db8::1')).toBeUndefined();
  });
});

describe('OutboundPolicy.checkUrl', () => {
  it('refuses metadata and link-local whatever is allowed', async () => {
    const lax = new OutboundPolicy({
      allowHttpHosts: ['*'],
      allowPrivate: true,
      allowLoopback: true,
      allowCidrs: ['0.0.0.0/0'],
    });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00:ec2::254]/',
      'http://100.100.100.200/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://169.254.10.10/',
    ]) {
      expect(await refusal(lax, url), url).toMatch(/metadata|link_local/);
    }
  });

  it('requires https unless the host may use http', async () => {
    expect(await refusal(strict, 'http://example.com/token')).toBe('https_required');
    expect(await refusal(strict, 'ftp://example.com/')).toBe('https_required');
    const http = new OutboundPolicy(
      { allowHttpHosts: ['example.com'], allowPrivate: false, allowLoopback: false, allowCidrs: [] },
      async () => ['93.184.216.34'],
    );
    expect(await refusal(http, 'http://example.com/token')).toBeUndefined();
  });

  it('refuses private and loopback unless allowed, including names that resolve to them', async () => {
    expect(await refusal(strict, 'https://10.0.0.5/token')).toBe('private');
    expect(await refusal(strict, 'https://192.168.0.10/token')).toBe('private');
    expect(await refusal(strict, 'https://127.0.0.1/token')).toBe('loopback');
    expect(await refusal(strict, 'https://[::1]/token')).toBe('loopback');
    expect(await refusal(strict, 'https://localhost/token')).toBe('loopback');
    const rebinding = new OutboundPolicy(strict.settings, async () => ['203.0.113.9', '10.9.9.9']);
    expect(await refusal(rebinding, 'https://idp.example.com/token')).toBe('private');
    const allowPrivate = new OutboundPolicy({ ...strict.settings, allowPrivate: true });
    expect(await refusal(allowPrivate, 'https://10.0.0.5/token')).toBeUndefined();
    const allowLoopback = new OutboundPolicy({ ...strict.settings, allowLoopback: true });
    expect(await refusal(allowLoopback, 'https://localhost/token')).toBeUndefined();
    const cidr = new OutboundPolicy({ ...strict.settings, allowCidrs: ['10.1.0.0/16'] });
    expect(await refusal(cidr, 'https://10.1.2.3/token')).toBeUndefined();
    expect(await refusal(cidr, 'https://10.2.0.1/token')).toBe('private');
  });

  it('names an unresolvable host', async () => {
    const none = new OutboundPolicy(strict.settings, async () => {
      throw new Error('ENOTFOUND');
    });
    expect(await refusal(none, 'https://nowhere.invalid/')).toBe('unresolvable');
  });
});

describe('createOutboundFetch', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(200_000));
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/' });
        res.end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 2_000);
      } else {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, body, ct: req.headers['content-type'] }));
        });
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const loopbackOk = new OutboundPolicy({
    allowHttpHosts: ['127.0.0.1', 'localhost'],
    allowPrivate: false,
    allowLoopback: true,
    allowCidrs: [],
  });
  const limits = { timeoutMs: 500, maxResponseBytes: 64 * 1024 };

  it('sends requests and returns responses like fetch', async () => {
    const f = createOutboundFetch(loopbackOk, limits);
    const res = await f(`http://localhost:${port}/echo`, {
      method: 'POST',
      body: new URLSearchParams({ a: '1' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      method: 'POST',
      body: 'a=1',
      ct: 'application/x-www-form-urlencoded;charset=UTF-8',
    });
  });

  it('refuses at connect time when the name resolves to a refused address', async () => {
    const f = createOutboundFetch(
      new OutboundPolicy({ ...loopbackOk.settings, allowLoopback: false }),
      limits,
    );
    const err = await f(`http://localhost:${port}/echo`).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).cause).toBeInstanceOf(OutboundPolicyError);
    expect(((err as Error).cause as OutboundPolicyError).rule).toBe('loopback');
  });

  it('does not follow redirects, limits the response size, and times out', async () => {
    const f = createOutboundFetch(loopbackOk, limits);
    const redirect = await f(`http://127.0.0.1:${port}/redirect`);
    expect(redirect.status).toBe(302);
    const big = await f(`http://127.0.0.1:${port}/big`).catch((e: Error) => e);
    expect(String((big as Error).cause)).toMatch(/larger than 65536 bytes/);
    const slow = await f(`http://127.0.0.1:${port}/slow`).catch((e: Error) => e);
    expect((slow as Error).name).toBe('TimeoutError');
  });
});
