import { type OutboundPolicy, OutboundPolicyError } from '#common';
import { ProblemException } from '../http/problem.js';

/** Fields of a credential body that tokenkeeper will call. */
const OUTBOUND_FIELDS = ['tokenEndpoint', 'issuer', 'vaultAddr'] as const;

/**
 * Checks the URLs a credential body asks tokenkeeper to call against the outbound policy, at
 * registration time (resolving host names now); the same policy is enforced again on every
 * connection. A refusal is a 422 naming the field and the rule.
 */
export async function checkOutboundUrls(
  policy: OutboundPolicy,
  body: Partial<Record<(typeof OUTBOUND_FIELDS)[number], string>>,
): Promise<void> {
  for (const field of OUTBOUND_FIELDS) {
    const url = body[field];
    if (url === undefined) continue;
    try {
      await policy.checkUrl(url);
    } catch (err) {
      if (!(err instanceof OutboundPolicyError)) throw err;
      throw new ProblemException('OUTBOUND_URL_REFUSED', {
        detail: `${field}: ${err.message} (rule ${err.rule})`,
        rule: err.rule,
        errors: [{ field, message: `${err.message} (rule ${err.rule})` }],
      });
    }
  }
}
