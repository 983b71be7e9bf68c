import { OutboundPolicyError } from '#common';
import type { GrantFailure } from '#core';

/**
 * A call the outbound URL policy refused (an endpoint discovered or stored that the operator does
 * not allow): permanent, since retrying dials the same refused address; the message names the rule.
 * The policy throws its refusal directly (URL checks) or as the `cause` of a fetch failure (an
 * address found at connect time).
 */
export function outboundRefusal(err: unknown): GrantFailure | undefined {
  const refusal = [err, (err as { cause?: unknown })?.cause].find(
    (e) => (e as { code?: unknown })?.code === OutboundPolicyError.code,
  ) as { rule?: unknown; message?: unknown } | undefined;
  // A name that does not resolve (now) is a DNS failure like any other: transient, as before.
  if (!refusal || refusal.rule === 'unresolvable') return undefined;
  const rule = typeof refusal.rule === 'string' ? refusal.rule : 'unknown';
  return {
    type: 'classified',
    class: 'permanent',
    code: 'OUTBOUND_REFUSED',
    message: `refused by the outbound URL policy, rule ${rule}: ${String(refusal.message ?? '')}`,
    // Refused before connecting, or at connect time: the request never left.
    outcome: 'not_sent',
  };
}
