import { z } from 'zod';
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

const execSink = z
  .object({
    type: z.literal('exec'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** How the token reaches the command; never through argv, where `ps` shows it. */
    tokenVia: z.enum(['env', 'stdin']).default('env'),
    env: z.record(z.string(), z.string()).default({}),
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
    headers: z.record(z.string(), templated()).default({}),
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

export const sinkSchema = z.discriminatedUnion('type', [fileSink, execSink, httpSink, signalSink]);

export const agentConfigSchema = z
  .object({
    api: z
      .object({
        url: httpUrl,
        apiKey: z.string().min(1, 'apiKey must not be empty'),
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
      })
      .strict()
      .optional(),
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
    for (const [i, c] of config.credentials.entries()) {
      for (const [j, s] of c.sinks.entries()) {
        if (s.type !== 'file') continue;
        if (paths.has(s.path))
          ctx.addIssue({
            code: 'custom',
            path: ['credentials', i, 'sinks', j, 'path'],
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
