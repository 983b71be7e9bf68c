import { constants } from 'node:fs';
import { type FileHandle, lstat, open, realpath } from 'node:fs/promises';
import { posix } from 'node:path';

/** Kernel pseudo-filesystems: never a file token source, whatever links lead there. */
const SYSTEM_ROOTS = ['/proc', '/sys', '/dev'] as const;

/** Longest path accepted (Linux PATH_MAX). */
export const MAX_FILE_SOURCE_PATH = 4096;

/** Why a path is not a usable file token source. The messages never depend on what exists on disk. */
export type FileSourceRefusal = 'disabled' | 'malformed' | 'outside';

const REFUSAL_MESSAGES: Record<FileSourceRefusal, string> = {
  disabled: 'file token sources are disabled on this server: the operator sets TK_FILE_SOURCE_DIRS',
  malformed:
    'must be an absolute, normalized path (no "." or ".." segments, no repeated or trailing "/", no control characters)',
  outside:
    'must name a regular file inside a directory the operator allowed for file token sources (TK_FILE_SOURCE_DIRS)',
};

/** A path the policy refuses. `reason` picks a fixed message: nothing about the target is revealed. */
export class FileSourceRefusedError extends Error {
  readonly code = 'FILE_SOURCE_REFUSED';
  constructor(readonly reason: FileSourceRefusal) {
    super(REFUSAL_MESSAGES[reason]);
    this.name = 'FileSourceRefusedError';
  }
}

/**
 * A path inside an allowed directory that cannot be read right now (`errno` such as ENOENT):
 * whatever writes it may not have written it yet. Only ever raised for paths proven inside.
 */
export class FileSourceUnavailableError extends Error {
  constructor(
    readonly path: string,
    readonly errno: string,
  ) {
    super(`token file ${path} cannot be read (${errno})`);
    this.name = 'FileSourceUnavailableError';
  }
}

const isWithin = (path: string, dir: string) =>
  path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
const isSystemPath = (path: string) => SYSTEM_ROOTS.some((root) => isWithin(path, root));

/** An absolute, normalized path without control characters, or undefined. */
function lexicalPath(path: string): string | undefined {
  if (path.length === 0 || path.length > MAX_FILE_SOURCE_PATH) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters (NUL included) are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return undefined;
  if (!path.startsWith('/') || path.endsWith('/') || posix.normalize(path) !== path) return undefined;
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return undefined;
  return path;
}

/**
 * What is wrong with a configured file source directory, or undefined when it is usable. `real` is
 * its real path when it exists (a link into a system directory is refused as well).
 */
export function fileSourceDirProblem(dir: string, real?: string): string | undefined {
  if (!dir.startsWith('/')) return 'must be an absolute path';
  const normalized = posix.normalize(dir).replace(/(.)\/+$/, '$1');
  if (normalized === '/') return 'must not be the root directory';
  for (const path of real === undefined ? [normalized] : [normalized, real]) {
    if (isSystemPath(path)) return `must not be or lie inside ${SYSTEM_ROOTS.join(', ')}`;
  }
  return undefined;
}

/** Splits `TK_FILE_SOURCE_DIRS` (comma- or colon-separated) into normalized directories. */
export function splitFileSourceDirs(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,:]/)
    .map((d) => d.trim())
    .filter(Boolean)
    .map((d) => (d.startsWith('/') ? posix.normalize(d).replace(/(.)\/+$/, '$1') : d));
}

/**
 * Where credentials may take a token from a file (`jwtFile`, `subjectTokenFile`): only regular
 * files inside the directories the operator listed in `TK_FILE_SOURCE_DIRS`, none by default.
 *
 * The API checks paths lexically only ({@link check}), so its answer never depends on what exists
 * on the server. The worker, before every read ({@link open}), resolves the path with realpath
 * and requires the result inside the real path of an allowed directory (a symlink leading out is
 * refused), outside /proc, /sys and /dev, and opens it with O_NOFOLLOW as a regular file.
 */
export class FileSourcePolicy {
  readonly dirs: readonly string[];

  constructor(dirs: readonly string[] = []) {
    this.dirs = dirs.map((d) => posix.normalize(d).replace(/(.)\/+$/, '$1'));
  }

  get enabled(): boolean {
    return this.dirs.length > 0;
  }

  /** The lexical check: the refusal for `path`, or undefined when it may be registered. */
  refusal(path: string): FileSourceRefusal | undefined {
    if (!this.enabled) return 'disabled';
    const lexical = lexicalPath(path);
    if (!lexical) return 'malformed';
    if (isSystemPath(lexical) || !this.dirs.some((dir) => lexical !== dir && isWithin(lexical, dir))) {
      return 'outside';
    }
    return undefined;
  }

  /** Throws FileSourceRefusedError unless `path` passes the lexical check. */
  check(path: string): void {
    const reason = this.refusal(path);
    if (reason) throw new FileSourceRefusedError(reason);
  }

  /**
   * Opens `path` for reading after resolving it inside the allowed directories. Throws
   * FileSourceRefusedError (same message whether or not the target exists) or, for a path
   * proven inside an allowed directory, FileSourceUnavailableError.
   */
  async open(path: string): Promise<FileHandle> {
    this.check(path);
    const real = await this.resolve(path);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it.
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'EIO';
      // The last component became a link since it was resolved.
      if (errno === 'ELOOP') throw new FileSourceRefusedError('outside');
      throw new FileSourceUnavailableError(path, errno);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new FileSourceRefusedError('outside');
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * The real path of `path`, walking it component by component from the real path of its allowed
   * directory, so that "missing" is only ever reported for a location proven inside: a symlink is
   * followed only when its full resolution lands inside an allowed directory; one that does not
   * resolve is refused like one that leads out.
   */
  private async resolve(path: string): Promise<string> {
    const realDirs = await this.realDirs();
    const dir = this.dirs.find((d) => path !== d && isWithin(path, d));
    if (dir === undefined) throw new FileSourceRefusedError('outside');
    const realDir = realDirs.get(dir);
    if (realDir === undefined) throw new FileSourceUnavailableError(path, 'ENOENT');
    const inside = (p: string) => !isSystemPath(p) && [...realDirs.values()].some((d) => isWithin(p, d));
    let current = realDir;
    const segments = path.slice(dir.length + 1).split('/');
    for (const segment of segments) {
      const next = posix.join(current, segment);
      let stat: Awaited<ReturnType<typeof lstat>>;
      try {
        stat = await lstat(next);
      } catch (err) {
        throw new FileSourceUnavailableError(path, (err as NodeJS.ErrnoException).code ?? 'EIO');
      }
      if (!stat.isSymbolicLink()) {
        current = next;
        continue;
      }
      const target = await realpath(next).catch(() => undefined);
      if (target === undefined || !inside(target)) throw new FileSourceRefusedError('outside');
      current = target;
    }
    if (!inside(current)) throw new FileSourceRefusedError('outside');
    return current;
  }

  /** Real paths of the allowed directories that exist now (a directory may appear after boot). */
  private async realDirs(): Promise<Map<string, string>> {
    const entries = await Promise.all(
      this.dirs.map(async (dir) => [dir, await realpath(dir).catch(() => undefined)] as const),
    );
    return new Map(
      entries.filter((e): e is readonly [string, string] => e[1] !== undefined && !isSystemPath(e[1])),
    );
  }
}
