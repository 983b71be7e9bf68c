import { inspect } from 'node:util';
import { scrubText } from '#common';

/** Longest error message kept for logs and `/ready`. */
export const MAX_ERROR_LENGTH = 512;
/** Shortest piece of a secret looked for: shorter runs match ordinary words. */
const MIN_SECRET_RUN = 8;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;
const REDACTED = '[redacted]';
// biome-ignore lint/suspicious/noControlCharactersInRegex: a secret's pieces lie between them
const SEPARATORS = /[\s\u0000-\u001f\u007f]+/;

/**
 * The spellings under which a secret shows up in an error message: as is, JSON-escaped,
 * `util.inspect`-escaped (Node's own argument errors), and each piece between control characters
 * or spaces (a client that split a header value at its CR/LF quotes the pieces).
 */
function spellings(secret: string): string[] {
  const forms = new Set<string>([
    secret,
    JSON.stringify(secret).slice(1, -1),
    inspect(secret).slice(1, -1),
    ...secret.split(SEPARATORS),
  ]);
  return [...forms].filter((f) => f.length >= MIN_SECRET_RUN);
}

/**
 * Where `form` occurs in `text`, or a run that starts like it (a message may quote a secret cut
 * short): [start, end) spans.
 */
function spansOf(text: string, form: string): Array<[number, number]> {
  const anchor = form.slice(0, MIN_SECRET_RUN);
  const spans: Array<[number, number]> = [];
  for (let at = text.indexOf(anchor); at >= 0; at = text.indexOf(anchor, at + 1)) {
    let end = at + anchor.length;
    while (end < text.length && end - at < form.length && text[end] === form[end - at]) end++;
    spans.push([at, end]);
  }
  return spans;
}

/** `text` with every span (overlapping ones merged) replaced by `[redacted]`. */
function replaceSpans(text: string, spans: Array<[number, number]>): string {
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    if (end <= from) continue;
    if (start >= from) out += text.slice(from, start) + REDACTED;
    from = end;
  }
  return out + text.slice(from);
}

/**
 * Makes an error message safe for the agent's log and for `/ready`: the secrets the agent knows
 * (its API key, the current tokens of the watched credentials, secrets in its configuration)
 * and anything bearer- or JWT-looking are masked, control characters removed, length bounded.
 */
export class SecretRedactor {
  constructor(
    private readonly fixed: readonly string[],
    private readonly current: () => Iterable<string> = () => [],
  ) {}

  redact(text: string): string {
    const spans = [...this.fixed, ...this.current()].flatMap((secret) =>
      spellings(secret).flatMap((form) => spansOf(text, form)),
    );
    const out = scrubText(replaceSpans(text, spans)).replace(CONTROL, ' ');
    return out.length > MAX_ERROR_LENGTH ? `${out.slice(0, MAX_ERROR_LENGTH - 1)}…` : out;
  }

  /** The message of anything thrown, made safe. */
  describe(err: unknown): string {
    return this.redact(err instanceof Error ? err.message : String(err));
  }
}
