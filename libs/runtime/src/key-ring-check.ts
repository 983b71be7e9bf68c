import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ReEncryption } from '#refresh';

/**
 * Stops the process at boot (ConfigError naming the key id) when ciphertexts in Redis still need
 * a key the ring no longer has: starting anyway would turn every such credential into a failure.
 */
@Injectable()
export class KeyRingCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(KeyRingCheck.name);

  constructor(private readonly reEncryption: ReEncryption) {}

  // After every module's init, so that every place holding ciphertexts has registered itself.
  async onApplicationBootstrap(): Promise<void> {
    const started = Date.now();
    await this.reEncryption.assertKeysAvailable();
    this.logger.debug({ msg: 'every stored ciphertext has its key', ms: Date.now() - started });
  }
}
