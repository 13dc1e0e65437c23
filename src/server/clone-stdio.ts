// A clone's own stdin/stdout/stderr: what to send the agent for each of fds
// 0-2, and the streams this process keeps for the 'pipe' ones.
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { makePipe } from './fd-passing.js';

/**
 * 'inherit': the template's (shared by every such clone); 'pipe': a new pipe,
 * its other end a stream on the Clone; 'ignore': /dev/null; a number: that
 * file descriptor of this process.
 */
export type CloneStdio = 'inherit' | 'pipe' | 'ignore' | number;
export type CloneStdioOption = CloneStdio | [CloneStdio, CloneStdio, CloneStdio];

export interface PreparedStdio {
  /** bit i set: fd i is sent */
  mask: number;
  /** the descriptors to send, in fd order */
  send: number[];
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** closes the clone's ends held here (after sending them) */
  closeSent(): void;
  /** also destroys our streams (the request failed) */
  abandon(): void;
}

export function prepareStdio(option: CloneStdioOption = 'inherit'): PreparedStdio {
  const spec = Array.isArray(option) ? option : [option, option, option];
  if (spec.length !== 3) throw new TypeError('stdio: give one value or three (stdin, stdout, stderr)');
  const send: number[] = [];
  const ownSent: number[] = []; // sent descriptors we opened, closed once sent
  const ours: Socket[] = [];
  const streams: (Socket | null)[] = [null, null, null];
  let mask = 0;
  try {
    spec.forEach((s, i) => {
      if (s === 'inherit') return;
      mask |= 1 << i;
      if (typeof s === 'number') {
        if (!Number.isInteger(s) || s < 0) throw new TypeError(`stdio[${i}]: ${s} is not a file descriptor`);
        send.push(s);
      } else if (s === 'ignore') {
        const fd = openSync('/dev/null', i === 0 ? 'r' : 'w');
        ownSent.push(fd);
        send.push(fd);
      } else if (s === 'pipe') {
        const [r, w] = makePipe();
        const theirs = i === 0 ? r : w;
        const mine = i === 0 ? w : r;
        ownSent.push(theirs);
        send.push(theirs);
        const sock = new Socket({ fd: mine, readable: i !== 0, writable: i === 0 });
        ours.push(sock);
        streams[i] = sock;
      } else throw new TypeError(`stdio[${i}]: expected 'inherit', 'pipe', 'ignore' or a file descriptor, got ${String(s)}`);
    });
  } catch (e) {
    for (const fd of ownSent) closeSync(fd);
    for (const s of ours) s.destroy();
    throw e;
  }
  let closed = false;
  const closeSent = () => {
    if (closed) return;
    closed = true;
    for (const fd of ownSent) closeSync(fd);
  };
  return {
    mask,
    send,
    stdin: streams[0],
    stdout: streams[1],
    stderr: streams[2],
    closeSent,
    abandon: () => {
      closeSent();
      for (const s of ours) s.destroy();
    },
  };
}
