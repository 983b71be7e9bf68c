import { describe, expect, it } from 'vitest';
import type { FileSinkConfig } from '../../../apps/agent/src/config/agent-config.js';
import {
  RenderError,
  renderFile,
  updateGoogleAuthorizedUser,
} from '../../../apps/agent/src/sinks/file-formats.js';
import {
  renderJsonTemplate,
  renderTemplate,
  unknownPlaceholders,
} from '../../../apps/agent/src/sinks/template.js';
import type { RenderInput, TokenSnapshot } from '../../../apps/agent/src/sinks/token-snapshot.js';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');
const A: TokenSnapshot = {
  credentialId: 'cred_aaaaaaaaaaaa',
  accessToken: 'at-aaa',
  tokenType: 'bearer',
  tokenVersion: 3,
  expiresAt: NOW + 600_500,
  scope: 'read write',
};
const B: TokenSnapshot = {
  ...A,
  credentialId: 'cred_bbbbbbbbbbbb',
  accessToken: 'at-bbb',
  tokenType: 'Bearer',
  tokenVersion: 7,
};
const input = (token = A): RenderInput => ({
  token,
  tokens: new Map([
    [A.credentialId, A],
    [B.credentialId, B],
  ]),
  now: NOW,
});
const file = (extra: Record<string, unknown>) =>
  ({ type: 'file', path: '/tmp/x', mode: 0o600, ...extra }) as FileSinkConfig;

const servers = [
  { name: 'atlassian', url: 'https://gw.example.com/mcp/atlassian/mcp', credentialId: A.credentialId },
  { name: 'sre-gateway', url: 'https://gw.example.com/mcp/sre-gateway/mcp', credentialId: B.credentialId },
  { name: 'currenttime', url: 'https://gw.example.com/mcp/currenttime/mcp' },
];

describe('file formats', () => {
  it('raw writes the bare token', () => {
    expect(renderFile(file({ format: 'raw' }), input(), undefined)).toBe('at-aaa');
  });

  it('oauth-tokens-json has the .oauth-tokens shape, refresh_token only when configured', () => {
    expect(JSON.parse(renderFile(file({ format: 'oauth-tokens-json' }), input(), undefined))).toEqual({
      access_token: 'at-aaa',
      expires_at: Math.floor((NOW + 600_500) / 1000),
      token_type: 'bearer',
      scope: 'read write',
    });
    const withRt = JSON.parse(
      renderFile(file({ format: 'oauth-tokens-json', refreshToken: 'rt-static' }), input(), undefined),
    );
    expect(Object.keys(withRt)).toEqual([
      'access_token',
      'refresh_token',
      'expires_at',
      'token_type',
      'scope',
    ]);
    expect(withRt.refresh_token).toBe('rt-static');
  });

  it('google-authorized-user updates the rotator shape in place and keeps other fields', () => {
    const kept = {
      type: 'authorized_user',
      client_id: 'cid',
      client_secret: 'csecret',
      refresh_token: '1//keep',
      quota_project_id: 'proj',
    };
    const existing = JSON.stringify({ ...kept, access_token: 'old', expires_at: 1, expires_in: 3600 });
    const out = JSON.parse(updateGoogleAuthorizedUser(existing, A, NOW));
    expect(out).toEqual({
      ...kept,
      access_token: 'at-aaa',
      expires_at: Math.floor((NOW + 600_500) / 1000),
      expires_in: 600,
    });
  });

  it('google-authorized-user updates google-auth token/expiry names without adding the others', () => {
    const existing = JSON.stringify({
      token: 'old',
      refresh_token: 'r',
      client_id: 'c',
      expiry: '2020-01-01T00:00:00Z',
      scopes: ['x'],
    });
    const out = JSON.parse(updateGoogleAuthorizedUser(existing, A, NOW));
    expect(out).toEqual({
      token: 'at-aaa',
      refresh_token: 'r',
      client_id: 'c',
      expiry: new Date(NOW + 600_500).toISOString(),
      scopes: ['x'],
    });
  });

  it('google-authorized-user refuses a missing, non-JSON or foreign file', () => {
    const sink = file({ format: 'google-authorized-user' });
    expect(() => renderFile(sink, input(), undefined)).toThrow(RenderError);
    expect(() => updateGoogleAuthorizedUser('{"access_token": "x', A, NOW)).toThrow(/not valid JSON/);
    expect(() => updateGoogleAuthorizedUser('{"type":"service_account"}', A, NOW)).toThrow(/service_account/);
  });

  it('mcp-json lists every server; those with a credential get its bearer token', () => {
    const out = JSON.parse(
      renderFile(
        file({ format: 'mcp-json', servers, command: 'uv', projectDir: '/srv/gw' }),
        input(),
        undefined,
      ),
    );
    expect(out).toEqual({
      mcpServers: {
        atlassian: {
          command: 'uv',
          args: ['--directory', '/srv/gw', 'run', 'mcp'],
          env: { MCP_SERVER_URL: servers[0]!.url, MCP_SERVER_AUTH_TOKEN: 'Bearer at-aaa' },
        },
        'sre-gateway': {
          command: 'uv',
          args: ['--directory', '/srv/gw', 'run', 'mcp'],
          env: { MCP_SERVER_URL: servers[1]!.url, MCP_SERVER_AUTH_TOKEN: 'Bearer at-bbb' },
        },
        currenttime: {
          command: 'uv',
          args: ['--directory', '/srv/gw', 'run', 'mcp'],
          env: { MCP_SERVER_URL: servers[2]!.url },
        },
      },
    });
  });

  it('vscode-mcp-json puts the Authorization header in FETCH_HEADERS as JSON', () => {
    const sink = file({
      format: 'vscode-mcp-json',
      servers,
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-fetch'],
    });
    const out = JSON.parse(renderFile(sink, input(), undefined));
    expect(out.mcpServers['sre-gateway']).toEqual({
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-fetch'],
      env: { FETCH_BASE_URL: servers[1]!.url, FETCH_HEADERS: '{"Authorization":"Bearer at-bbb"}' },
    });
    expect(JSON.parse(out.mcpServers['sre-gateway'].env.FETCH_HEADERS)).toEqual({
      Authorization: 'Bearer at-bbb',
    });
    expect(out.mcpServers.currenttime.env).toEqual({ FETCH_BASE_URL: servers[2]!.url });
  });

  it('an MCP config waits for every credential it names', () => {
    const only = { token: A, tokens: new Map([[A.credentialId, A]]), now: NOW };
    expect(() => renderFile(file({ format: 'mcp-json', servers, command: 'uv' }), only, undefined)).toThrow(
      /no token yet/,
    );
  });

  it('template substitutes known placeholders only, with no code evaluation', () => {
    const out = renderFile(
      file({
        format: 'template',
        template:
          'T={{ access_token }} V={{token_version}} E={{expires_at_iso}} IN={{expires_in}} {{constructor}} ${1+1}',
      }),
      input(),
      undefined,
    );
    expect(out).toBe(
      `T=at-aaa V=3 E=${new Date(NOW + 600_500).toISOString()} IN=600 {{constructor}} \${1+1}`,
    );
    expect(unknownPlaceholders('{{access_token}} {{constructor}} {{process.env.X}}')).toEqual([
      'constructor',
      'process.env.X',
    ]);
    expect(renderTemplate('{{expires_at}}', A, NOW)).toBe(String(Math.floor((NOW + 600_500) / 1000)));
  });

  it('a template file refuses a token with CR/LF (it would add lines of its own) without quoting it', () => {
    const hostile = { ...A, accessToken: 'template-secret\nLD_PRELOAD=/tmp/x.so' };
    const sink = file({ format: 'template', template: 'TOKEN={{access_token}}\nEXP={{expires_at}}\n' });
    const err = (() => {
      try {
        renderFile(sink, input(hostile), undefined);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/\{\{access_token\}\} of cred_\w+ holds a control character/);
    expect(err?.message).not.toMatch(/template-secret|LD_PRELOAD/);
    // A template that does not use the value still renders.
    expect(
      renderFile(file({ format: 'template', template: 'V={{token_version}}' }), input(hostile), undefined),
    ).toBe('V=3');
  });

  it('a template file refuses a token with a Unicode line break (NEL, LS, PS): YAML readers end lines there', () => {
    const sink = file({ format: 'template', template: 'token: {{access_token}}\n' });
    for (const sep of ['\u0085', '\u2028', '\u2029']) {
      const hostile = { ...A, accessToken: `template-secret${sep}admin: true` };
      expect(() => renderFile(sink, input(hostile), undefined)).toThrow(/holds a control character/);
    }
  });

  it('a JSON body template renders strings at any depth and keeps other types', () => {
    const body = {
      uid: 5,
      chain: 'bittensor',
      nested: [{ token: '{{access_token}}' }],
      ok: true,
      account: 'x',
    };
    expect(renderJsonTemplate(body, A, NOW)).toEqual({
      uid: 5,
      chain: 'bittensor',
      nested: [{ token: 'at-aaa' }],
      ok: true,
      account: 'x',
    });
  });
});
