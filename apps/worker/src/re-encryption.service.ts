import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { AppConfig } from '#common';
import { ReEncryption } from '#refresh';
import { CONFIG } from '#runtime';

/**
 * Re-encrypts every credential to the primary key: soon after start (a new primary is deployed by
 * restarting with it) and then periodically, on whichever worker takes the lock.
 */
@Injectable()
export class ReEncryptionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReEncryptionService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly reEncryption: ReEncryption,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setTimeout(() => this.tick(), 1_000);
  }

  private tick(): void {
    let lastLog = 0;
    this.running = this.reEncryption
      .runIfLeader({
        onProgress: (s) => {
          if (Date.now() - lastLog < 2_000) return;
          lastLog = Date.now();
          this.logger.log({ msg: 're-encryption progress', ...s });
        },
        onFailure: (credentialId, field, err) =>
          this.logger.warn({
            msg: 'ciphertext cannot be re-encrypted',
            credentialId,
            field,
            code: 'SECRET_DECRYPTION_FAILED',
            reason: err.message,
          }),
      })
      .then((s) => {
        if (!s) return;
        const level = s.rewritten > 0 || s.failed > 0 ? 'log' : 'debug';
        this.logger[level]({ msg: 're-encryption finished', ...s });
      })
      .catch((err: Error) => this.logger.error({ msg: 're-encryption failed', err }))
      .finally(() => {
        if (this.timer) this.timer = setTimeout(() => this.tick(), this.config.security.reencryptIntervalMs);
      });
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
