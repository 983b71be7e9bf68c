import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AgentConfigError } from '../../../apps/agent/src/config/config-error.js';
import { parseAgentConfig } from '../../../apps/agent/src/config/load-config.js';

const ID = 'cred_abcdefghij12';
const env = { TK_API_KEY: 'tk_test_key' };

function problemsOf(text: string, vars: Record<string, string> = env): string[] {
  try {
    parseAgentConfig(text, vars, 'agent.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(AgentConfigError);
    return [...(err as AgentConfigError).problems];
  }
  throw new Error('expected the config to be refused');
}

const base = (sinks: string) => `api:
  url: http://127.0.0.1:8080
  apiKey: \${TK_API_KEY}
credentials:
  - id: ${ID}
    sinks:
${sinks}`;

describe('agent config', () => {
  it('accepts the deploy example', () => {
    const text = readFileSync(new URL('../../../deploy/agent/agent.example.yaml', import.meta.url), 'utf8');
    const config = parseAgentConfig(text, {
      TOKENKEEPER_URL: 'http://tokenkeeper:8080',
      TOKENKEEPER_API_KEY: 'tk_x',
      AGENT_CREDENTIAL_ID: 'cred_abcdefghij12',
    });
    expect(config.credentials[0]!.id).toBe('cred_abcdefghij12');
  });

  it('accepts the reference example and fills in defaults', () => {
    const text = readFileSync(new URL('../../../deploy/agent/agent.reference.yaml', import.meta.url), 'utf8');
    const config = parseAgentConfig(text, env);
    expect(config.api).toMatchObject({
      url: 'http://127.0.0.1:8080',
      apiKey: 'tk_test_key',
      pollIntervalSeconds: 30,
    });
    expect(config.credentials).toHaveLength(3);
    const [first] = config.credentials;
    expect(first!.minTtl).toBe(60);
    expect(first!.sinks[0]).toMatchObject({ type: 'file', format: 'oauth-tokens-json', mode: 0o600 });
    const http = config.credentials[2]!.sinks[0]!;
    expect(http).toMatchObject({ type: 'http', method: 'POST', body: { token: '{{access_token}}', uid: 7 } });
    expect(config.credentials[2]!.sinks[2]).toMatchObject({ mode: 0o640 });
    expect(config.credentials[1]!.minTtl).toBe(30);
  });

  it('interpolates ${VAR} and ${VAR:-default}, typing a whole unquoted reference', () => {
    const config = parseAgentConfig(
      `api: { url: "\${URL:-http://localhost:1}", apiKey: "k-\${KEY}-$\${LITERAL}" }
health:
  port: \${PORT}
credentials: [{ id: ${ID}, sinks: [{ type: file, format: raw, path: /tmp/t }] }]`,
      { KEY: 'abc', PORT: '9191' },
    );
    expect(config.api.url).toBe('http://localhost:1');
    expect(config.api.apiKey).toBe('k-abc-${LITERAL}');
    expect(config.health?.port).toBe(9191);
  });

  it('names the line of a missing environment variable', () => {
    expect(problemsOf(base('      - { type: file, format: raw, path: /tmp/t }'), {})).toEqual([
      'agent.yaml:3: environment variable TK_API_KEY is not set',
    ]);
  });

  it('names the line and setting of an invalid value', () => {
    const problems = problemsOf(
      base(`      - type: file
        format: raw
        path: /tmp/a
      - type: file
        format: yaml-please
        path: /tmp/b`),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^agent\.yaml:11: credentials\[0\]\.sinks\[1\]\.format: Invalid discriminator/,
    );
  });

  it('names the line of an unknown placeholder, an unknown key, and a bad mode', () => {
    const problems = problemsOf(
      base(`      - type: http
        url: https://registrar.example.com/register
        body: { token: "{{acess_token}}" }
      - type: file
        format: raw
        path: /tmp/a
        mode: 0999
      - type: exec
        command: /bin/true
        argv: [--token]`),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^agent\.yaml:9: credentials\[0\]\.sinks\[0\]\.body: unknown placeholder \{\{acess_token\}\}/,
      ),
      expect.stringMatching(
        /^agent\.yaml:13: credentials\[0\]\.sinks\[1\]\.mode: write the mode as octal digits/,
      ),
      expect.stringMatching(/^agent\.yaml:14: credentials\[0\]\.sinks\[2\]: .*argv/),
    ]);
  });

  it('points a missing setting at the enclosing block', () => {
    const problems = problemsOf(`api:
  url: http://127.0.0.1:8080
credentials:
  - id: ${ID}
    sinks:
      - type: signal
`);
    expect(problems).toEqual([
      expect.stringMatching(/^agent\.yaml:2: api\.apiKey: /),
      expect.stringMatching(/^agent\.yaml:6: credentials\[0\]\.sinks\[0\]\.pidFile: /),
    ]);
  });

  it('refuses a credential listed twice and two sinks writing one path', () => {
    const problems = problemsOf(`api: { url: "http://127.0.0.1:8080", apiKey: k }
credentials:
  - id: ${ID}
    sinks: [{ type: file, format: raw, path: /tmp/same }]
  - id: ${ID}
    sinks: [{ type: file, format: raw, path: /tmp/same }]`);
    expect(problems).toEqual([
      expect.stringMatching(/^agent\.yaml:5: credentials\[1\]\.id: .* is listed twice/),
      expect.stringMatching(/^agent\.yaml:6: credentials\[1\]\.sinks\[0\]\.path: .* already written/),
    ]);
  });

  it('names the line of a YAML syntax error', () => {
    const problems = problemsOf('api:\n  url: http://x\n  apiKey: [unclosed\ncredentials: []\n');
    expect(problems[0]).toMatch(/^agent\.yaml:\d+: /);
  });

  it("keeps the agent's key and secrets out of a command's environment", () => {
    const problems = problemsOf(
      base(`      - type: exec
        command: /bin/true
        passEnv: [NEURON_HOTKEY, TOKENKEEPER_API_KEY, TK_ENCRYPTION_KEYS, PAYMENTS_API_KEY, "bad-name"]
        env: { TK_ACCESS_TOKEN: x, OTHER_KEY: "\${TK_API_KEY}", FINE: ok }`),
    );
    expect(problems).toEqual([
      expect.stringMatching(/env\.TK_ACCESS_TOKEN: TK_\* and TOKENKEEPER_\* are the agent's own variables/),
      expect.stringMatching(
        /^agent\.yaml:9: credentials\[0\]\.sinks\[0\]\.passEnv\[1\]: TOKENKEEPER_API_KEY is one of the agent's own variables/,
      ),
      expect.stringMatching(/passEnv\[2\]: TK_ENCRYPTION_KEYS is one of the agent's own variables/),
      expect.stringMatching(/passEnv\[3\]: PAYMENTS_API_KEY looks like an API key/),
      expect.stringMatching(/passEnv\[4\]: environment variable names are letters, digits and _/),
      expect.stringMatching(/env\.OTHER_KEY: the agent's own API key is never handed to a command/),
    ]);
    expect(problems.join('\n')).not.toContain('tk_test_key');
  });

  it('refuses header values with control characters without quoting them', () => {
    const problems = problemsOf(
      `api: { url: "http://127.0.0.1:8080", apiKey: "tk_secret_key\\r\\nX-Injected: 1" }
credentials:
  - id: ${ID}
    sinks:
      - type: http
        url: https://registrar.example.com/register
        headers: { x-static: "static-secret\\u0000tail", "bad header": x }`,
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^agent\.yaml:1: api\.apiKey: apiKey holds CR, LF, NUL or another control character/,
      ),
      expect.stringMatching(/headers\.x-static: a header value cannot hold CR, LF, NUL/),
      expect.stringMatching(/headers\.bad header: not a valid HTTP header name/),
    ]);
    expect(problems.join('\n')).not.toMatch(/tk_secret_key|X-Injected|static-secret/);
  });

  it('sends registrar calls only where the outbound policy allows', () => {
    const registrar = (url: string, outbound = '') => `api: { url: "http://127.0.0.1:8080", apiKey: k }
${outbound}
credentials:
  - id: ${ID}
    sinks: [{ type: http, url: "${url}" }]`;
    expect(problemsOf(registrar('http://127.0.0.1:9000/register'))).toEqual([
      expect.stringMatching(
        /^agent\.yaml:5: credentials\[0\]\.sinks\[0\]\.url: refused by the outbound policy \(loopback\): 127\.0\.0\.1 is a loopback address; set outbound\.allowLoopback: true/,
      ),
    ]);
    expect(problemsOf(registrar('http://127.0.0.1:9000/r', 'outbound: { allowLoopback: true }'))).toEqual([
      expect.stringMatching(
        /url: refused by the outbound policy \(https_required\): https is required for 127\.0\.0\.1; list the host in outbound\.allowHttpHosts/,
      ),
    ]);
    expect(problemsOf(registrar('https://10.1.2.3/r'))).toEqual([
      expect.stringMatching(/\(private\).*outbound\.allowPrivate/),
    ]);
    const everything = 'outbound: { allowLoopback: true, allowPrivate: true, allowHttpHosts: ["*"] }';
    expect(problemsOf(registrar('http://169.254.169.254/latest/meta-data', everything))).toEqual([
      expect.stringMatching(/\(metadata\): 169\.254\.169\.254 is a cloud metadata address$/),
    ]);
    expect(
      problemsOf(registrar('https://registrar.example.com/r', 'outbound: { allowCidrs: [10.0.0.0/99] }')),
    ).toEqual([expect.stringMatching(/outbound\.allowCidrs\[0\]: not a CIDR/)]);
    const local = parseAgentConfig(
      registrar('http://127.0.0.1:9000/r', 'outbound: { allowLoopback: true, allowHttpHosts: [127.0.0.1] }'),
      env,
    );
    expect(local.outbound).toEqual({
      allowLoopback: true,
      allowHttpHosts: ['127.0.0.1'],
      allowPrivate: false,
      allowCidrs: [],
    });
    expect(
      parseAgentConfig(registrar('https://10.1.2.3/r', 'outbound: { allowCidrs: [10.1.0.0/16] }'), env),
    ).toBeTruthy();
  });

  it('shows the detail of /ready to loopback callers unless told otherwise', () => {
    const config = (health: string) =>
      parseAgentConfig(
        `api: { url: "http://127.0.0.1:8080", apiKey: k }
health: ${health}
credentials: [{ id: ${ID}, sinks: [{ type: file, format: raw, path: /tmp/t }] }]`,
        env,
      );
    expect(config('{ port: 0 }').health?.detail).toBe('loopback');
    expect(config('{ port: 0, detail: none }').health?.detail).toBe('none');
    expect(() => config('{ port: 0, detail: everyone }')).toThrow(/health\.detail/);
  });
});
