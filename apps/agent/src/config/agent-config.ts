import { isIP } from 'node:net';
import { z } from 'zod';
import { isValidHeaderValue } from '../http/header-value.js';
import { describeRefusal, outboundPolicy, policyRefusal } from '../http/outbound.js';
import { COMMAND_ENV_RESERVED, refusedPassEnvName } from '../sinks/command-env.js';
import { stringsIn, unknownPlaceholders } from '../sinks/template.js';

const CREDENTIAL_ID = /^cred_[A-Za-z0-9_-]{10,64}$/;
const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGCONT'] as const;

const credentialId = z.string().regex(CREDENTIAL_ID, 'credential ids look like cred_…');
const httpUrl = z
  .string()
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL');

/** A string that may hold `{{placeholders}}`: unknown names are refused here, not at render time. */
const templated = (schema: z.ZodType<string> = z.string()) =>
  schema.superRefine((text, ctx) => {
    const unknown = unknownPlaceholders(text);
    if (unknown.length) ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${unknown[0]}}}` });
  });

/** File modes are written in octal in YAML (`0600`, `"0640"`) and YAML 1.2 reads `0600` as decimal 600. */
const fileMode = z
  .union([z.number().int(), z.string()])
  .transform((v) => String(v).replace(/^0o/, ''))
  .refine((v) => /^[0-7]{3,4}$/.test(v), 'write the mode as octal digits, such as 0600')
  .transform((v) => Number.parseInt(v, 8));

const mcpServer = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'server names are 1-100 of [A-Za-z0-9._-]'),
    url: httpUrl,
    /** Absent for a no-auth server: it is listed without an Authorization. */
    credentialId: credentialId.optional(),
  })
  .strict();

const fileBase = {
  type: z.literal('file'),
  path: z.string().min(1),
  mode: fileMode.default(0o600),
};

const fileSink = z.discriminatedUnion('format', [
  z.object({ ...fileBase, format: z.literal('raw') }).strict(),
  z
    .object({
      ...fileBase,
      format: z.literal('oauth-tokens-json'),
      /** Written as `refresh_token` only when given here: the API never hands out refresh tokens. */
      refreshToken: z.string().min(1).optional(),
    })
    .strict(),
  z.object({ ...fileBase, format: z.literal('google-authorized-user') }).strict(),
  z
    .object({
      ...fileBase,
      format: z.literal('mcp-json'),
      servers: z.array(mcpServer).min(1),
      command: z.string().min(1).default('uv'),
      /** Defaults to `["--directory", projectDir, "run", "mcp"]` (without the first two when no projectDir). */
      args: z.array(z.string()).optional(),
      projectDir: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      ...fileBase,
      format: z.literal('vscode-mcp-json'),
      servers: z.array(mcpServer).min(1),
      command: z.string().min(1).default('npx'),
      args: z.array(z.string()).default(['-y', '@modelcontextprotocol/server-fetch']),
    })
    .strict(),
  z.object({ ...fileBase, format: z.literal('template'), template: templated(z.string().min(1)) }).strict(),
]);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/** A record whose keys are checked one by one, so a refusal names the key and says why. */
const namedRecord = <T extends z.ZodType<string>>(value: T, refuseKey: (key: string) => string | undefined) =>
  z.record(z.string(), value).superRefine((record, ctx) => {
    for (const key of Object.keys(record)) {
      const why = refuseKey(key);
      if (why) ctx.addIssue({ code: 'custom', path: [key], message: why });
    }
  });
const envName = z.string().regex(ENV_NAME, 'environment variable names are letters, digits and _');

const execSink = z
  .object({
    type: z.literal('exec'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** How the token reaches the command; never through argv, where `ps` shows it. */
    tokenVia: z.enum(['env', 'stdin']).default('env'),
    /** Variables set for the command, on top of the allow-listed ones of the agent's environment. */
    env: namedRecord(
      z.string().refine((v) => !v.includes('\0'), 'a value cannot hold a NUL character'),
      (name) =>
        !ENV_NAME.test(name)
          ? 'environment variable names are letters, digits and _'
          : COMMAND_ENV_RESERVED.test(name)
            ? "TK_* and TOKENKEEPER_* are the agent's own variables; choose another name"
            : undefined,
    ).default({}),
    /** Variables of the agent's environment the command inherits besides the default allow-list. */
    passEnv: z
      .array(
        envName.superRefine((name, ctx) => {
          const why = refusedPassEnvName(name);
          if (why) ctx.addIssue({ code: 'custom', message: why });
        }),
      )
      .max(100)
      .default([]),
    cwd: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .strict();

const retrySchema = z
  .object({
    attempts: z.number().int().min(1).max(100).default(5),
    baseMs: z.number().int().min(10).max(60_000).default(500),
    capMs: z.number().int().min(10).max(600_000).default(10_000),
  })
  .strict();

const httpSink = z
  .object({
    type: z.literal('http'),
    url: httpUrl,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: namedRecord(
      templated(
        z
          .string()
          .refine(isValidHeaderValue, 'a header value cannot hold CR, LF, NUL or another control character'),
      ),
      (name) => (HEADER_NAME.test(name) ? undefined : 'not a valid HTTP header name'),
    ).default({}),
    /** Any JSON; every string in it may hold placeholders. */
    body: z
      .unknown()
      .default({ token: '{{access_token}}' })
      .superRefine((body, ctx) => {
        for (const s of stringsIn(body)) {
          const unknown = unknownPlaceholders(s);
          if (unknown.length)
            ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${unknown[0]}}}` });
        }
      }),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    retries: retrySchema.default({ attempts: 5, baseMs: 500, capMs: 10_000 }),
  })
  .strict();

const signalSink = z
  .object({
    type: z.literal('signal'),
    pidFile: z.string().min(1),
    signal: z.enum(SIGNALS).default('SIGHUP'),
  })
  .strict();

const cidr = z.string().refine((v) => {
  const [address = '', bits] = v.split('/');
  const family = isIP(address);
  const max = family === 6 ? 128 : 32;
  return family !== 0 && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max));
}, 'not a CIDR such as 10.1.0.0/16');

export const sinkSchema = z.discriminatedUnion('type', [fileSink, execSink, httpSink, signalSink]);

export const agentConfigSchema = z
  .object({
    api: z
      .object({
        url: httpUrl,
        apiKey: z
          .string()
          .min(1, 'apiKey must not be empty')
          .refine(
            isValidHeaderValue,
            'apiKey holds CR, LF, NUL or another control character, which cannot go into an HTTP header',
          ),
        timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
        /** Longest wait between two polls of a credential's status. */
        pollIntervalSeconds: z.number().min(0.5).max(3600).default(30),
        /** Use the event stream as a faster trigger (polling stays on either way). */
        events: z.boolean().default(true),
      })
      .strict(),
    health: z
      .object({
        port: z.number().int().min(0).max(65_535),
        host: z.string().min(1).default('127.0.0.1'),
        /**
         * Who sees the detail of `/ready` (versions, sinks, failures, last errors): callers on
         * loopback by default; everyone else gets the status alone.
         */
        detail: z.enum(['loopback', 'all', 'none']).default('loopback'),
      })
      .strict()
      .optional(),
    /**
     * Where http sinks may send tokens: the outbound policy of tokenkeeper itself (https only,
     * no loopback, private, link-local or metadata address) unless allowed here.
     */
    outbound: z
      .object({
        allowHttpHosts: z.array(z.string().min(1).max(255)).max(100).default([]),
        allowLoopback: z.boolean().default(false),
        allowPrivate: z.boolean().default(false),
        allowCidrs: z.array(cidr).max(100).default([]),
      })
      .strict()
      .default({ allowHttpHosts: [], allowLoopback: false, allowPrivate: false, allowCidrs: [] }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    credentials: z
      .array(
        z
          .object({
            id: credentialId,
            /** Seconds of validity the token must have when fetched; the API refreshes otherwise. */
            minTtl: z.number().int().min(0).max(86_400).default(30),
            sinks: z.array(sinkSchema).min(1, 'give at least one sink'),
          })
          .strict(),
      )
      .min(1, 'give at least one credential'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.credentials.forEach((c, i) => {
      if (seen.has(c.id))
        ctx.addIssue({ code: 'custom', path: ['credentials', i, 'id'], message: `${c.id} is listed twice` });
      seen.set(c.id, i);
    });
    const paths = new Set<string>();
    // An invalid CIDR is reported on its own; the URLs are checked once the policy can be built.
    let policy: ReturnType<typeof outboundPolicy> | undefined;
    try {
      policy = outboundPolicy(config.outbound);
    } catch {
      policy = undefined;
    }
    for (const [i, c] of config.credentials.entries()) {
      for (const [j, s] of c.sinks.entries()) {
        const at = ['credentials', i, 'sinks', j];
        if (s.type === 'http' && policy) {
          try {
            policy.checkUrlSyntax(s.url);
          } catch (err) {
            const refusal = policyRefusal(err);
            if (!refusal) throw err;
            ctx.addIssue({ code: 'custom', path: [...at, 'url'], message: describeRefusal(refusal) });
          }
        }
        if (s.type === 'exec') {
          for (const [name, value] of Object.entries(s.env))
            if (value === config.api.apiKey)
              ctx.addIssue({
                code: 'custom',
                path: [...at, 'env', name],
                message: "the agent's own API key is never handed to a command",
              });
        }
        if (s.type !== 'file') continue;
        if (paths.has(s.path))
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'path'],
            message: `${s.path} is already written by another sink`,
          });
        paths.add(s.path);
      }
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
export type FileSinkConfig = Extract<SinkConfig, { type: 'file' }>;
export type ExecSinkConfig = Extract<SinkConfig, { type: 'exec' }>;
export type HttpSinkConfig = Extract<SinkConfig, { type: 'http' }>;
export type SignalSinkConfig = Extract<SinkConfig, { type: 'signal' }>;
export type McpServerConfig = z.output<typeof mcpServer>;
