import { readFileSync } from 'node:fs';
import { isScalar, LineCounter, type Node, parseDocument, parse as parseYaml, Scalar, visit } from 'yaml';
import type { ZodError } from 'zod';
import { type AgentConfig, agentConfigSchema } from './agent-config.js';
import { AgentConfigError } from './config-error.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** `a.b[0].c` for an issue path. */
function settingName(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
}

/**
 * Parses and validates an agent configuration. `${VAR}` and `${VAR:-default}` in string values
 * are read from `env` (`$${` is a literal `${`); every problem names its line.
 */
export function parseAgentConfig(
  text: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  source = 'agent config',
): AgentConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  if (doc.errors.length) {
    // The first errors only: one YAML mistake tends to cascade into many.
    const problems = doc.errors
      .slice(0, 3)
      .map((e) => `${source}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`);
    throw new AgentConfigError(`invalid YAML in ${problems.join('; ')}`, problems);
  }

  const problems: string[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const raw = node.value;
      const value = raw.replace(REFERENCE, (whole, name?: string, fallback?: string) => {
        if (whole === '$${') return '${';
        const v = env[name!];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        problems.push(`${source}:${lineOf(node)}: environment variable ${name} is not set`);
        return '';
      });
      // An unquoted `port: ${PORT}` becomes a number, as if the value had been written there.
      const typed = node.type === Scalar.PLAIN && WHOLE_REFERENCE.test(raw) ? parseYaml(value) : value;
      node.value = typeof typed === 'number' || typeof typed === 'boolean' ? typed : value;
    },
  });
  if (problems.length) throw new AgentConfigError(problems.join('; '), problems);

  const result = agentConfigSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw zodProblems(
    result.error,
    (path) => {
      // Point at the setting itself, or at the nearest enclosing one when it is missing.
      for (let n = path.length; n >= 0; n--) {
        const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
        if (node && (isScalar(node) || typeof node === 'object')) return lineOf(node as Node) ?? 1;
      }
      return 1;
    },
    source,
  );
}

function zodProblems(error: ZodError, lineOf: (path: PropertyKey[]) => number, source: string) {
  const problems = error.issues.map((issue) => {
    const path = issue.path as PropertyKey[];
    const name = settingName(path);
    return `${source}:${lineOf(path)}: ${name ? `${name}: ` : ''}${issue.message}`;
  });
  return new AgentConfigError(problems.join('; '), problems);
}

/** Reads and validates the configuration file at `path`. */
export function loadAgentConfig(
  path: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AgentConfigError(`cannot read the agent config ${path}: ${(err as Error).message}`);
  }
  return parseAgentConfig(text, env, path);
}
