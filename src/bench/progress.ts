// A one-line progress bar on stderr, shown only when stderr is a terminal.
export class Progress {
  private done = 0;
  private readonly enabled: boolean;
  constructor(
    private readonly total: number,
    private readonly label: string,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY);
    this.stream = stream;
  }
  private readonly stream: NodeJS.WriteStream;

  tick(n = 1, note = ''): void {
    this.done = Math.min(this.total, this.done + n);
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    this.stream.write(`\r${this.label} [${bar}] ${this.done}/${this.total} ${note}`.padEnd(80));
  }

  end(): void {
    if (this.enabled) this.stream.write('\r' + ' '.repeat(80) + '\r');
  }
}
