// Where an explore clone's stdout and stderr go: per job slot, two files in
// /dev/shm opened once for the session and emptied before each run, read
// after the clone is reaped. A pipe and a stream per run (and waiting for
// both to close) cost the driver more than the run itself on the small
// programs; a file needs no reading while the clone runs.
import { closeSync, existsSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFromStart } from '../proc/read-text.js';

const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/**
 * A file opened for reading and appending, its name removed at once: nothing
 * is left behind if forkall is killed, and no other process can open it by
 * name. O_APPEND because the clone shares this open file description (and so
 * its offset): after each truncation the next run's first write lands at 0.
 */
function anonymousAppendFile(what: string): number {
  const path = join(dir, `forkall-explore-${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(path, 'ax+', 0o600);
  try {
    unlinkSync(path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

const empty = Buffer.alloc(0);

/**
 * The file's whole content, emptied after. Read from offset 0 into a reused
 * buffer until the end, without an fstat first (it made a Stats object per
 * call): a clone that wrote nothing costs one read that returns 0.
 */
function takeAll(fd: number): Buffer {
  const got = readFromStart(fd);
  if (got.length === 0) return empty;
  ftruncateSync(fd, 0);
  return Buffer.from(got); // a copy: the read buffer is reused by the next call
}

/** One job slot's stdin (/dev/null), stdout and stderr files. */
export class RunOutput {
  readonly stdin: number;
  readonly stdout: number;
  readonly stderr: number;

  constructor() {
    const opened: number[] = [];
    try {
      opened.push((this.stdin = openSync('/dev/null', 'r')));
      opened.push((this.stdout = anonymousAppendFile('out')));
      opened.push((this.stderr = anonymousAppendFile('err')));
    } catch (e) {
      for (const fd of opened) closeSync(fd);
      throw e;
    }
  }

  /** the descriptors to give the clone as its fds 0, 1, 2 */
  get stdio(): [number, number, number] {
    return [this.stdin, this.stdout, this.stderr];
  }

  /** What the last clone wrote; empties both files for the next. Call only once that clone was reaped. */
  take(): { stdout: Buffer; stderr: Buffer } {
    return { stdout: takeAll(this.stdout), stderr: takeAll(this.stderr) };
  }

  close(): void {
    for (const fd of [this.stdin, this.stdout, this.stderr]) closeSync(fd);
  }
}
