import type { FileSinkConfig, McpServerConfig } from '../config/agent-config.js';
import { renderTemplate, templateValues, usedPlaceholders } from './template.js';
import { authScheme, type RenderInput, type TokenSnapshot } from './token-snapshot.js';

/** A sink that cannot render: the message says what is missing, never what the token is. */
export class RenderError extends Error {
  readonly code = 'SINK_RENDER_FAILED';
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** `.oauth-tokens/<name>.json` as the MCP gateway's refresher and rotator_library read it. */
export function renderOAuthTokensJson(token: TokenSnapshot, refreshToken?: string): string {
  return json({
    access_token: token.accessToken,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    expires_at: Math.floor(token.expiresAt / 1000),
    token_type: token.tokenType,
    scope: token.scope ?? '',
  });
}

/**
 * Writes the new access token and expiry into an existing Google-style `authorized_user` file and
 * keeps everything else (client id and secret, refresh token, quota project…). Both spellings in
 * use are updated where present: google-auth's `token` + `expiry` (ISO) and the
 * `access_token` + `expires_at` (epoch seconds) + `expires_in` that rotator_library reads.
 */
export function updateGoogleAuthorizedUser(existing: string, token: TokenSnapshot, now: number): string {
  let doc: unknown;
  try {
    doc = JSON.parse(existing);
  } catch {
    throw new RenderError('the authorized_user file is not valid JSON; it is left as it is');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new RenderError('the authorized_user file does not hold a JSON object; it is left as it is');
  const file = doc as Record<string, unknown>;
  if (file.type !== undefined && file.type !== 'authorized_user')
    throw new RenderError(`the file has type "${String(file.type)}", expected "authorized_user"`);

  const hasGoogleNames = 'token' in file || 'expiry' in file;
  if ('token' in file) file.token = token.accessToken;
  if ('access_token' in file || !hasGoogleNames) file.access_token = token.accessToken;
  if ('expiry' in file) file.expiry = new Date(token.expiresAt).toISOString();
  if ('expires_at' in file || !hasGoogleNames) file.expires_at = Math.floor(token.expiresAt / 1000);
  if ('expires_in' in file) file.expires_in = Math.max(0, Math.floor((token.expiresAt - now) / 1000));
  if ('token_type' in file) file.token_type = token.tokenType;
  return json(file);
}

function serverToken(server: McpServerConfig, input: RenderInput): TokenSnapshot | undefined {
  if (!server.credentialId) return undefined;
  const token = input.tokens.get(server.credentialId);
  if (!token) throw new RenderError(`no token yet for ${server.credentialId} (server ${server.name})`);
  return token;
}

/** `mcp.json` for Roo Code / Claude Code: every server, those with a credential carry its token. */
export function renderMcpJson(
  servers: readonly McpServerConfig[],
  input: RenderInput,
  options: { command: string; args?: string[]; projectDir?: string },
): string {
  const args = options.args ?? [
    ...(options.projectDir ? ['--directory', options.projectDir] : []),
    'run',
    'mcp',
  ];
  const mcpServers: Record<string, unknown> = {};
  for (const server of servers) {
    const token = serverToken(server, input);
    mcpServers[server.name] = {
      command: options.command,
      args,
      env: {
        MCP_SERVER_URL: server.url,
        ...(token ? { MCP_SERVER_AUTH_TOKEN: `${authScheme(token.tokenType)} ${token.accessToken}` } : {}),
      },
    };
  }
  return json({ mcpServers });
}

/** `vscode_mcp.json`: the fetch server with the Authorization header as a JSON string. */
export function renderVscodeMcpJson(
  servers: readonly McpServerConfig[],
  input: RenderInput,
  options: { command: string; args: string[] },
): string {
  const mcpServers: Record<string, unknown> = {};
  for (const server of servers) {
    const token = serverToken(server, input);
    mcpServers[server.name] = {
      command: options.command,
      args: options.args,
      env: {
        FETCH_BASE_URL: server.url,
        ...(token
          ? {
              FETCH_HEADERS: JSON.stringify({
                Authorization: `${authScheme(token.tokenType)} ${token.accessToken}`,
              }),
            }
          : {}),
      },
    };
  }
  return json({ mcpServers });
}

/** Control characters, and NEL, LS and PS: YAML (PyYAML) and Python's `splitlines` end lines at them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * A `template` file (often `KEY=value` lines read by a shell or a dotenv loader, or YAML): a token
 * with a line break would add lines of its own, so a value with a control character or a Unicode
 * line separator is not written.
 */
function renderTemplateFile(template: string, input: RenderInput): string {
  const values: Record<string, string> = templateValues(input.token, input.now);
  for (const name of usedPlaceholders(template))
    if (CONTROL.test(values[name] ?? ''))
      throw new RenderError(
        `{{${name}}} of ${input.token.credentialId} holds a control character (CR, LF, NUL…); the file is left as it is`,
      );
  return renderTemplate(template, input.token, input.now);
}

/** Credentials a file sink needs besides its own (MCP configs name one per server). */
export function referencedCredentials(sink: FileSinkConfig): string[] {
  if (sink.format !== 'mcp-json' && sink.format !== 'vscode-mcp-json') return [];
  return sink.servers.flatMap((s) => (s.credentialId ? [s.credentialId] : []));
}

/**
 * The new content of a file sink. `existing` is the file's current content (undefined when it
 * does not exist); only the in-place `google-authorized-user` format reads it.
 */
export function renderFile(sink: FileSinkConfig, input: RenderInput, existing: string | undefined): string {
  switch (sink.format) {
    case 'raw':
      return input.token.accessToken;
    case 'oauth-tokens-json':
      return renderOAuthTokensJson(input.token, sink.refreshToken);
    case 'google-authorized-user':
      if (existing === undefined)
        throw new RenderError(
          'the authorized_user file does not exist: it holds the client and refresh token the agent does not have, create it first',
        );
      return updateGoogleAuthorizedUser(existing, input.token, input.now);
    case 'mcp-json':
      return renderMcpJson(sink.servers, input, sink);
    case 'vscode-mcp-json':
      return renderVscodeMcpJson(sink.servers, input, sink);
    case 'template':
      return renderTemplateFile(sink.template, input);
  }
}
