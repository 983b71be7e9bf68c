import { randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';
const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** A new signing secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** Why a supplied secret cannot be used, or undefined when it can. */
export function webhookSecretProblem(secret: string): string | undefined {
  if (!SECRET.test(secret)) return 'must be "whsec_" followed by base64';
  const bytes = Buffer.from(secret.slice(PREFIX.length), 'base64').length;
  if (bytes < 24 || bytes > 64) return `must encode 24 to 64 bytes, got ${bytes}`;
  return undefined;
}
