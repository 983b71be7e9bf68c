import { createOutboundFetch, OutboundPolicy, OutboundPolicyError } from '#common';

/** What the agent may call besides its own API: the `outbound` section of its configuration. */
export interface AgentOutboundSettings {
  allowHttpHosts: string[];
  allowLoopback: boolean;
  allowPrivate: boolean;
  allowCidrs: string[];
}

/** A registrar's answer is never used; this only bounds what a misbehaving one can make us buffer. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The setting of the agent's configuration that lifts each rule, where one does. */
const AGENT_SETTING: Partial<Record<OutboundPolicyError['rule'], string>> = {
  https_required: 'list the host in outbound.allowHttpHosts to allow plain http',
  loopback: 'set outbound.allowLoopback: true, or list it in outbound.allowCidrs, for a server on this host',
  private: 'set outbound.allowPrivate: true, or list it in outbound.allowCidrs',
};

export function outboundPolicy(settings: AgentOutboundSettings): OutboundPolicy {
  return new OutboundPolicy({
    ...settings,
    allowHttpHosts: settings.allowHttpHosts.map((h) => h.toLowerCase()),
  });
}

/** The `fetch` every http sink uses: the policy is checked on the address actually dialled. */
export function outboundFetch(policy: OutboundPolicy, timeoutMs: number): typeof fetch {
  return createOutboundFetch(policy, { timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES });
}

/** The policy error in `err` (thrown as is, or the cause of a failed fetch), if any. */
export function policyRefusal(err: unknown): OutboundPolicyError | undefined {
  if (err instanceof OutboundPolicyError) return err;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause instanceof OutboundPolicyError ? cause : undefined;
}

/** A refusal in the agent's words: which rule, and which agent setting would allow it. */
export function describeRefusal(err: OutboundPolicyError): string {
  const what = err.message.replace(/ \((allow|use) [^)]*\)$/, '');
  const hint = AGENT_SETTING[err.rule];
  return `refused by the outbound policy (${err.rule}): ${what}${hint ? `; ${hint}` : ''}`;
}
