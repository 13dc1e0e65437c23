// The helper process (native/unfork, built as bin/forkall-unfork) and its
// line protocol: commands on its stdin, answers on its stdout (the helper
// moves both to high fds so the called code cannot reach them; what it
// prints is captured by the helper itself).
import { spawn, type ChildProcess } from 'node:child_process';
import { UnforkError } from './errors.js';

export interface Answer {
  ok: boolean;
  words: string[];
  payload?: Buffer;
}

interface Pending {
  payload: boolean;
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

/**
 * What the helper's asynchronous reports mean. `live`: pages come from the running target, each
 * read when first touched, so a crash may come of data caught half-changed (docs/unfork.md).
 */
function fatalReport(line: string, live: boolean): UnforkError | undefined {
  const w = line.split(' ');
  if (w[0] === 'CRASH')
    return new UnforkError(
      `the called code crashed in the copy: signal ${w[1]} at address ${w[2]} (instruction ${w[3]}); the target was not affected` +
        (live ? '. The copy was read from the running target page by page: if its threads were changing what the call used (its allocator, say), --consistent reads one instant' : ''),
      'crash',
    );
  if (w[0] === 'FAULT' && w[2] === '3')
    return new UnforkError(`page ${w[1]} could not be read: the target has exited; the call failed`, 'fault');
  if (w[0] === 'FAULT')
    return new UnforkError(
      `page ${w[1]} could not be read from the target (errno ${w[2]}): it was unmapped since the import, or cannot be read (device memory); the call failed, the target was not affected`,
      'fault',
    );
  return undefined;
}

export class Helper {
  private readonly child: ChildProcess;
  private buf = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private ended: Error | undefined;
  private stderr = '';
  readonly exited: Promise<number | null>;

  /** `live`: the pages come from the running target, not from a held copy (--consistent) */
  constructor(path: string, private readonly live = false) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin!.on('error', () => {}); // EPIPE when the helper has ended: reported through 'exit'
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, sig) => {
        this.fail(new UnforkError(`the unfork helper ended (${sig ?? `exit ${code}`})${this.stderr ? `: ${this.stderr.trim()}` : ''}`, 'closed'));
        resolve(code);
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private fail(e: Error): void {
    if (!this.ended) this.ended = e;
    for (const p of this.queue.splice(0)) p.reject(this.ended);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const line = this.buf.toString('latin1', 0, nl);
      const fatal = fatalReport(line, this.live);
      if (fatal) {
        this.buf = this.buf.subarray(nl + 1);
        this.fail(fatal);
        continue;
      }
      const words = line.split(' ');
      const p = this.queue[0];
      if (!p || line === 'READY') {
        this.buf = this.buf.subarray(nl + 1); // the helper's greeting
        continue;
      }
      let payload: Buffer | undefined;
      if (words[0] === 'OK' && p.payload) {
        const len = Number.parseInt(words[2] ?? '0', 16);
        if (this.buf.length < nl + 1 + len) return; // wait for the rest
        payload = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + len));
        this.buf = this.buf.subarray(nl + 1 + len);
      } else this.buf = this.buf.subarray(nl + 1);
      this.queue.shift();
      p.resolve({ ok: words[0] === 'OK', words, payload });
    }
  }

  /** Sends lines without an answer (set-up commands). */
  send(lines: string[]): void {
    if (lines.length) this.child.stdin!.write(lines.join('\n') + '\n');
  }

  /** Sends one command and resolves to its answer; rejects if the helper ends or `timeoutMs` passes (the helper is then killed). */
  ask(line: string, payload: boolean, timeoutMs: number): Promise<Answer> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new UnforkError(
            `'${line.split(' ')[0]}' did not finish within ${timeoutMs} ms (a lock held by another thread of the target at the import?); the helper was killed, the target was not affected`,
            'timeout',
          ),
        );
        this.kill();
      }, timeoutMs);
      const done = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.queue.push({ payload, resolve: done(resolve), reject: done(reject) });
      this.child.stdin!.write(line + '\n');
    });
  }

  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  async quit(): Promise<void> {
    if (!this.ended) this.child.stdin!.end('quit\n');
    const t = setTimeout(() => this.kill(), 5000);
    await this.exited;
    clearTimeout(t);
  }
}
