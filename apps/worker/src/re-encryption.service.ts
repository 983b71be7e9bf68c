import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '#common';
import { onLegacySecrets, ReEncryption } from '#refresh';
import { CONFIG } from '#runtime';
import { PeriodicService } from './periodic-task.js';

/**
 * Re-encrypts every credential to the primary key: soon after start (a new primary is deployed by
 * restarting with it) and then periodically, on whichever worker takes the lock.
 */
@Injectable()
export class ReEncryptionService extends PeriodicService {
  constructor(
    private readonly reEncryption: ReEncryption,
    @Inject(CONFIG) config: AppConfig,
  ) {
    super('re-encryption', () => ({ periodMs: config.security.reencryptIntervalMs, firstDelayMs: 1_000 }));
  }

  override onApplicationBootstrap(): void {
    // Secrets stored before destinations were bound: each is bound on its next refresh (once).
    let legacy = 0;
    onLegacySecrets((credentialId) =>
      this.logger.log({
        msg: 'secrets stored before destination binding: bound to the current settings',
        credentialId,
        legacyBoundSinceStart: ++legacy,
      }),
    );
    super.onApplicationBootstrap();
  }

  protected async runOnce(): Promise<void> {
    let lastLog = 0;
    const s = await this.reEncryption.runIfLeader({
      onProgress: (status) => {
        if (Date.now() - lastLog < 2_000) return;
        lastLog = Date.now();
        this.logger.log({ msg: 're-encryption progress', ...status });
      },
      onFailure: (credentialId, field, err) =>
        this.logger.warn({
          msg: 'ciphertext cannot be re-encrypted',
          credentialId,
          field,
          code: 'SECRET_DECRYPTION_FAILED',
          reason: err.message,
        }),
    });
    if (!s) return;
    const level = s.rewritten > 0 || s.failed > 0 ? 'log' : 'debug';
    this.logger[level]({ msg: 're-encryption finished', ...s });
  }
}
