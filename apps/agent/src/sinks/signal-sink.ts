import { readFile } from 'node:fs/promises';
import type { SignalSinkConfig } from '../config/agent-config.js';
import type { Sink } from './sink.js';

/** Tells a process that reads its token from a file to reload it (SIGHUP by default). */
export class SignalSink implements Sink {
  readonly name: string;
  readonly credentialIds: readonly string[];

  constructor(
    ownerId: string,
    private readonly config: SignalSinkConfig,
  ) {
    this.name = `signal:${config.signal}:${config.pidFile}`;
    this.credentialIds = [ownerId];
  }

  async run(): Promise<void> {
    const text = (await readFile(this.config.pidFile, 'utf8')).trim();
    if (!/^\d+$/.test(text) || Number(text) <= 1)
      throw new Error(`${this.config.pidFile} does not hold a process id`);
    process.kill(Number(text), this.config.signal);
  }
}
