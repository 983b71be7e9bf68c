import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { jsonDepthExceeds, MAX_JSON_DEPTH, requireJsonBodies } from './json-only.js';

describe('jsonDepthExceeds', () => {
  const nested = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

  it('allows nesting up to the limit and refuses one level more', () => {
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(jsonDepthExceeds(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, MAX_JSON_DEPTH)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    const body = JSON.stringify({ s: `${'['.repeat(100)}"\\{{{{`, t: [[1], { u: '}}}' }] });
    expect(jsonDepthExceeds(body, 3)).toBe(false);
    expect(jsonDepthExceeds(body, 2)).toBe(true);
  });

  it('counts depth, not the number of siblings', () => {
    expect(jsonDepthExceeds(JSON.stringify(Array.from({ length: 1000 }, () => [{}])), 3)).toBe(false);
  });
});

describe('requireJsonBodies', () => {
  it('refuses another content type with a 415 that quotes it bounded', async () => {
    const fastify = Fastify();
    requireJsonBodies(fastify);
    fastify.post('/v1/things', async () => ({ ok: true }));
    const type = `text/plain; ${'x'.repeat(8_000)}`;
    const res = await fastify.inject({
      method: 'POST',
      url: '/v1/things',
      headers: { 'content-type': type },
      payload: 'a',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(res.json().detail).toContain('got text/plain; xxx');
    expect(res.body.length).toBeLessThan(1_024);
    await fastify.close();
  });
});
