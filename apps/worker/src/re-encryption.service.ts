import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '#common';
import { onLegacySecrets, ReEncryption } from '#refresh';
import { CONFIG } from '#runtime';
import { PeriodicTask } from './periodic-task.js';

/**
 * Re-encrypts every credential to the primary key: soon after start (a new primary is deployed by
 * restarting with it) and then periodically, on whichever worker takes the lock.
 */
@Injectable()
export class ReEncryptionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReEncryptionService.name);
  private task: PeriodicTask | undefined;

  constructor(
    private readonly reEncryption: ReEncryption,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // Secrets stored before destinations were bound: each is bound on its next refresh (once).
    let legacy = 0;
    onLegacySecrets((credentialId) =>
      this.logger.log({
        msg: 'secrets stored before destination binding: bound to the current settings',
        credentialId,
        legacyBoundSinceStart: ++legacy,
      }),
    );
    this.task = new PeriodicTask(() => this.pass(), this.config.security.reencryptIntervalMs, 1_000);
    this.task.start();
  }

  private async pass(): Promise<void> {
    let lastLog = 0;
    try {
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
    } catch (err) {
      this.logger.error({ msg: 're-encryption failed', err });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }
}
