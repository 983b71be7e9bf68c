import { describe, expect, it } from 'vitest';
import { attributeLoss, lastRotation } from '../soak/loss-attribution.js';
import type { EventBody, LostCredential, WorkerKill } from '../soak/rotation-soak.js';
import type { Presentation } from '../support/fault-proxy.js';

const KILLED = 'host-1:4242';
const kills: WorkerKill[] = [{ at: 10_000, name: 'worker-2', workerId: KILLED }];

const event = (type: string, data: EventBody['data'] = {}): EventBody => ({
  type,
  revision: 0,
  at: '2026-12-02T00:00:00.000Z',
  data,
});
const lostWith = (code: string, message: string): LostCredential => ({
  id: 'cred_1',
  state: 'reauth_required',
  initialToken: 't0',
  events: [
    event('token.updated'),
    event('refresh.failed', { code, message }),
    event('credential.reauth_required', { code, message }),
  ],
});
const p = (over: Partial<Presentation>): Presentation => ({ at: 1_000, delivered: true, ...over });

/** t0 rotated to t1 (delivered to worker-1), t1 rotated by the killed worker whose answer was lost. */
const record = (lost: Partial<Presentation>, after: Presentation[] = []) =>
  new Map<string, Presentation[]>([
    ['t0', [p({ worker: 'host-1:1', providerStatus: 200, issued: 't1', settledAt: 1_100 })]],
    [
      't1',
      [
        p({ worker: KILLED, providerStatus: 200, issued: 't2', at: 9_000, delivered: false, ...lost }),
        ...after,
      ],
    ],
  ]);
const message = `the refresh token was consumed by the request sent at 2026-12-02T00:00:09.000Z by worker ${KILLED}, whose answer was lost`;

describe('soak loss attribution', () => {
  it('follows the chain through delivered answers to the last rotation', () => {
    expect(lastRotation('t0', record({}))).toMatchObject({ token: 't1', index: 0 });
  });

  it('a REFRESH_TOKEN_LOST naming the killed worker, whose lost answer the proxy saw, is the crash window', () => {
    const reRead = [p({ worker: 'host-1:1', providerStatus: 400, at: 12_000 })];
    expect(attributeLoss(lostWith('REFRESH_TOKEN_LOST', message), record({}, reRead), kills)).toMatchObject({
      verdict: 'crash-window',
      worker: KILLED,
      answerReachedWorker: false,
    });
    expect(
      attributeLoss(
        lostWith('REFRESH_TOKEN_LOST', message),
        record({ delivered: true, settledAt: 9_500 }),
        kills,
      ),
    ).toMatchObject({ verdict: 'crash-window', answerReachedWorker: true });
  });

  it('anything else is unexplained, with the reason', () => {
    const cases: [LostCredential, Map<string, Presentation[]>, RegExp][] = [
      [lostWith('INVALID_GRANT', message), record({}), /INVALID_GRANT/],
      [lostWith('REFRESH_TOKEN_LOST', 'lost by host-1:7'), record({}), /names no killed worker/],
      [lostWith('REFRESH_TOKEN_LOST', 'lost by worker host-1:42420'), record({}), /names no killed worker/],
      [lostWith('REFRESH_TOKEN_LOST', message), record({ worker: 'host-1:1' }), /not host-1:4242/],
      [lostWith('REFRESH_TOKEN_LOST', message), record({ at: 11_000 }), /after the worker was killed/],
      [
        lostWith('REFRESH_TOKEN_LOST', message),
        record({ delivered: true, settledAt: 10_500 }),
        /reached the worker after/,
      ],
      [
        lostWith('REFRESH_TOKEN_LOST', message),
        record({}, [p({ providerStatus: 400, at: 12_000 }), p({ providerStatus: 400, at: 13_000 })]),
        /presented 2 more times/,
      ],
      [{ ...lostWith('X', message), state: 'expired', events: [] }, record({}), /not reauth_required/],
    ];
    for (const [lost, rec, reason] of cases) {
      const a = attributeLoss(lost, rec, kills);
      expect(a.verdict).toBe('unexplained');
      expect(a.reason).toMatch(reason);
    }
  });
});
