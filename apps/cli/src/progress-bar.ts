/**
 * A one-line progress bar on stderr for long imports: `[#######.......] 12/40 30% github.json`.
 * Draws only on a terminal (or when forced); redraws at most every 100 ms.
 */
export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    options: { force?: boolean; width?: number } = {},
  ) {
    this.enabled = options.force ?? Boolean(stream.isTTY);
    this.width = options.width ?? 30;
  }

  private readonly width: number;

  tick(label = ''): void {
    this.done = Math.min(this.total, this.done + 1);
    const now = Date.now();
    if (this.done === this.total || now - this.lastDraw >= 100) {
      this.lastDraw = now;
      this.draw(label);
    }
  }

  /** Clears the line so that the next output starts clean. */
  finish(): void {
    if (this.enabled) this.stream.write('\r\u001b[2K');
  }

  private draw(label: string): void {
    if (!this.enabled) return;
    this.stream.write(`\r\u001b[2K${renderProgress(this.done, this.total, this.width, label)}`);
  }
}

export function renderProgress(done: number, total: number, width: number, label = ''): string {
  const ratio = total === 0 ? 1 : done / total;
  const filled = Math.round(ratio * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  return `[${bar}] ${done}/${total} ${Math.floor(ratio * 100)}%${label ? ` ${label}` : ''}`;
}
