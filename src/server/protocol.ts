import { constants } from 'node:os';
import type { NotCopied } from '../remote/private/plan.js';

// The agent's control protocol, version 1 (docs/protocol.md): 12-byte header
// (u32 magic "FKAL", u16 version, u16 type, u32 length, little-endian), then
// the payload.
export const MAGIC = 0x4c414b46;
export const VERSION = 1;
export const MAX_PAYLOAD = 256;

export const MsgType = {
  HELLO: 1,
  SNAPSHOT: 2,
  CLONED: 3,
  EXITED: 4,
  ERROR: 5,
  NOT_COPIED: 6,
  RAN: 7,
  SNAPSHOT_NOW: 16,
  CLONE: 17,
  KILL: 18,
  CLONE_STDIO: 19,
} as const;

export type AgentMessage =
  | { type: 'hello'; pid: number; version: number }
  | { type: 'snapshot'; threads: number; compactedMb: number | null }
  | { type: 'cloned'; request: number; pid: number; threads: number }
  | { type: 'exited'; pid: number; status: number }
  | { type: 'error'; request: number; errno: number; message: string }
  /** a one-reply clone (CLONE_ONE_REPLY) ended: its PID and wait status together */
  | { type: 'ran'; request: number; pid: number; threads: number; status: number; killedAtDeadline: boolean }
  /** sent by a clone: event objects it left shared or copied approximately, one per line */
  | { type: 'notCopied'; pid: number; copied: number; objects: NotCopied[] };

export function encode(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt16LE(VERSION, 4);
  h.writeUInt16LE(type, 6);
  h.writeUInt32LE(payload.length, 8);
  return Buffer.concat([h, payload]);
}

/** CLONE / CLONE_STDIO flags (an optional trailing u32) */
export const CLONE_ONE_REPLY = 1; // no CLONED and EXITED: one RAN once the clone ended
/** with CLONE_ONE_REPLY: a u32 of milliseconds follows; the agent kills the clone that long after its fork */
export const CLONE_DEADLINE = 2;

export const cloneRequest = (request: number, flags = 0, deadlineMs = 0): Buffer => {
  const p = Buffer.alloc(flags & CLONE_DEADLINE ? 12 : flags ? 8 : 4);
  p.writeUInt32LE(request, 0);
  if (flags) p.writeUInt32LE(flags, 4);
  if (flags & CLONE_DEADLINE) p.writeUInt32LE(deadlineMs, 8);
  return encode(MsgType.CLONE, p);
};

/** A clone whose fds 0-2 named in `mask` (bit i: fd i) are the descriptors sent with this message, in order. */
export const cloneStdioRequest = (request: number, mask: number, flags = 0, deadlineMs = 0): Buffer => {
  const p = Buffer.alloc(flags & CLONE_DEADLINE ? 16 : flags ? 12 : 8);
  p.writeUInt32LE(request, 0);
  p.writeUInt32LE(mask, 4);
  if (flags) p.writeUInt32LE(flags, 8);
  if (flags & CLONE_DEADLINE) p.writeUInt32LE(deadlineMs, 12);
  return encode(MsgType.CLONE_STDIO, p);
};

export const killRequest = (pid: number, signal: number): Buffer => {
  const p = Buffer.alloc(8);
  p.writeInt32LE(pid, 0);
  p.writeInt32LE(signal, 4);
  return encode(MsgType.KILL, p);
};

function decodeOne(type: number, p: Buffer): AgentMessage {
  switch (type) {
    case MsgType.HELLO:
      return { type: 'hello', pid: p.readUInt32LE(0), version: p.readUInt32LE(4) };
    case MsgType.SNAPSHOT:
      return { type: 'snapshot', threads: p.readUInt32LE(0), compactedMb: p.readUInt32LE(4) === 0xffffffff ? null : p.readUInt32LE(4) };
    case MsgType.CLONED:
      return { type: 'cloned', request: p.readUInt32LE(0), pid: p.readInt32LE(4), threads: p.readUInt32LE(8) };
    case MsgType.RAN:
      return {
        type: 'ran',
        request: p.readUInt32LE(0),
        pid: p.readInt32LE(4),
        threads: p.readUInt32LE(8),
        status: p.readInt32LE(12),
        killedAtDeadline: p.length >= 20 && p.readUInt32LE(16) !== 0,
      };
    case MsgType.EXITED:
      return { type: 'exited', pid: p.readInt32LE(0), status: p.readInt32LE(4) };
    case MsgType.ERROR:
      return { type: 'error', request: p.readUInt32LE(0), errno: p.readInt32LE(4), message: p.subarray(8).toString('utf8') };
    case MsgType.NOT_COPIED:
      return { type: 'notCopied', pid: p.readInt32LE(0), copied: p.readUInt32LE(4), objects: p.subarray(8).toString('utf8').split('\n').filter(Boolean).map(parseNotCopied) };
    default:
      throw new Error(`agent sent an unknown message type ${type}`);
  }
}

/**
 * One line of a clone's NOT_COPIED report, "fd N KIND: shared (why)",
 * "fd N KIND: private, approximate (why)" or "fd N epoll: private, one
 * registration not copied (why)", in the remote engine's terms.
 */
export function parseNotCopied(line: string): NotCopied {
  const m = /^fd (\d+) (\S+): (.*)$/.exec(line);
  if (!m) return { fd: -1, kind: 'unknown', reason: line, effect: 'approximate' };
  const text = m[3]!;
  const why = /\((.*)\)\s*$/.exec(text)?.[1] ?? text;
  const effect = text.startsWith('shared') ? 'shared' : /not copied/.test(text) && !/approximate/.test(text) ? 'dropped' : 'approximate';
  return { fd: Number(m[1]), kind: m[2]!, reason: why, effect };
}

/** Splits a byte stream into messages; throws on a malformed header. */
export class MessageReader {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): AgentMessage[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: AgentMessage[] = [];
    while (this.buf.length >= 12) {
      if (this.buf.readUInt32LE(0) !== MAGIC || this.buf.readUInt16LE(4) !== VERSION)
        throw new Error('agent sent a malformed message header');
      const len = this.buf.readUInt32LE(8);
      if (len > MAX_PAYLOAD) throw new Error(`agent sent an oversized message (${len} bytes)`);
      if (this.buf.length < 12 + len) break;
      out.push(decodeOne(this.buf.readUInt16LE(6), this.buf.subarray(12, 12 + len)));
      this.buf = this.buf.subarray(12 + len);
    }
    return out;
  }
}

/** Decodes a wait(2) status into an exit code or a signal name. */
export function decodeWaitStatus(status: number): { exitCode: number | null; signal: NodeJS.Signals | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  const name = Object.entries(constants.signals as Record<string, number>).find(([, n]) => n === sig)?.[0];
  return { exitCode: null, signal: (name as NodeJS.Signals | undefined) ?? null };
}
