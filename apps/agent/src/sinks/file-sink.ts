import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FileSinkConfig } from '../config/agent-config.js';
import { writeFileAtomic } from './atomic-write.js';
import { referencedCredentials, renderFile } from './file-formats.js';
import type { Sink } from './sink.js';
import type { RenderInput } from './token-snapshot.js';

/** Renders a format to a path, atomically, with the configured mode (0600 by default). */
export class FileSink implements Sink {
  readonly name: string;
  readonly credentialIds: readonly string[];
  private readonly path: string;

  constructor(
    ownerId: string,
    private readonly config: FileSinkConfig,
  ) {
    this.path = resolve(config.path);
    this.name = `file:${config.format}:${this.path}`;
    this.credentialIds = [...new Set([ownerId, ...referencedCredentials(config)])];
  }

  async run(input: RenderInput): Promise<void> {
    const existing =
      this.config.format === 'google-authorized-user'
        ? await readFile(this.path, 'utf8').catch(missing)
        : undefined;
    const content = renderFile(this.config, input, existing);
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, content, this.config.mode);
  }
}

function missing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}
