// A TCP connection in progress when a server is cloned stays the original's:
// its client gets one answer, from the original, and the clone's handler of
// that connection sees its client gone (end of file). Without this the clone,
// sharing the socket as after fork, would read the client's bytes or answer
// in the same stream. The server is Python's own socketserver, cloned by the
// remote engine and served as a template by the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { have } from './helpers/programs.js';
import { killAndWait } from './helpers/kill-wait.js';
import { runForkall } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { spawnTemplate } from '../src/server/template.js';
import type { Readable } from 'node:stream';


// each connection: "first" line, then (later) "go" line, then the answer names the answering process
const server = [
  'import os, socketserver, sys',
  'class H(socketserver.StreamRequestHandler):',
  '    def handle(self):',
  '        first = self.rfile.readline()',
  '        print(f"got {first.decode().strip()} {os.getpid()}", flush=True)',
  '        go = self.rfile.readline()',
  '        if not go:',
  '            print(f"eof {os.getpid()}", flush=True)',
  '            return',
  '        self.wfile.write(f"answer from {os.getpid()}\\n".encode())',
  'socketserver.ThreadingTCPServer.daemon_threads = True',
  's = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)',
  'print(f"port {s.server_address[1]}", flush=True)',
  's.serve_forever()',
].join('\n');

function connect(port: number): Promise<{ sock: Socket; text: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let got = '';
    sock.on('data', (d) => (got += d));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.once('error', reject);
    sock.once('connect', () => resolve({ sock, text: () => got, closed }));
  });
}


/** Every complete line the stream gives, as it comes. */
function linesOf(stream: Readable): string[] {
  const lines: string[] = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return lines;
}

const skip = have('python3') ? false : 'python3 is not installed';

/** The server's port, and a connection whose first line the process `pidOf()` has read (its request is in progress). */
async function requestInProgress(lines: string[], pidOf: () => number, socks: Socket[]): Promise<{ port: number; c: Awaited<ReturnType<typeof connect>> }> {
  const port = Number(await waitFor('the server\'s port', () => lines.map((l) => /^port (\d+)/.exec(l)?.[1]).find(Boolean), 30_000));
  const c = await connect(port);
  socks.push(c.sock);
  c.sock.write('first\n');
  await waitFor(`PID ${pidOf()} to read the first line`, () => lines.includes(`got first ${pidOf()}`) || undefined, 30_000);
  return { port, c };
}

test('a connection in progress at the clone: its client gets one answer, from the original; the clone sees that client gone and serves new ones', { skip, timeout: 120_000 }, async () => {
  const p = spawn('python3', ['-c', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = linesOf(p.stdout!);
  const pids = [p.pid!];
  const socks: Socket[] = [];
  try {
    const { port, c } = await requestInProgress(lines, () => p.pid!, socks);
    const r = await runForkall(['clone', '-p', String(p.pid!), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const clone = (JSON.parse(r.stdout) as { clones: { pid: number }[] }).clones[0]!.pid;
    pids.push(clone);
    await waitFor('the clone\'s handler to see its client gone', () => lines.includes(`eof ${clone}`) || undefined, 30_000);
    c.sock.write('go\n');
    await Promise.race([c.closed, waitFor('the answer', () => (c.text().includes('\n') ? true : undefined), 30_000)]);
    await new Promise((res) => setTimeout(res, 200)); // a second answer, if any, would follow at once
    assert.equal(c.text(), `answer from ${p.pid}\n`, 'exactly one answer, from the original');
    // the clone serves new connections on the shared listening socket
    await waitFor('a new connection answered by the clone', async () => {
      const n = await connect(port);
      socks.push(n.sock);
      n.sock.write('first\ngo\n');
      await Promise.race([n.closed, new Promise((res) => setTimeout(res, 5000))]);
      return n.text() === `answer from ${clone}\n` || undefined;
    }, 60_000, 10);
  } finally {
    for (const s of socks) s.destroy();
    await killAndWait(...pids);
  }
});

test('agent: a connection in progress when the template froze stays the template\'s; a clone sees that client gone and serves new ones', { skip, timeout: 120_000 }, async () => {
  const t = await spawnTemplate('python3', ['-c', server], { at: 'request', stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 60_000 });
  const lines = linesOf(t.process.stdout!);
  const socks: Socket[] = [];
  try {
    const { port, c } = await requestInProgress(lines, () => t.pid, socks);
    await t.requestSnapshot();
    const clone = await t.clone();
    // shared as after fork, the clone's handler would wait on the client's stream and answer its "go"
    await waitFor('the clone\'s handler to see its client gone', () => lines.includes(`eof ${clone.pid}`) || undefined, 30_000);
    c.sock.write('go\n');
    await waitFor('a new connection answered by the clone', async () => {
      const n = await connect(port);
      socks.push(n.sock);
      n.sock.write('first\ngo\n');
      await Promise.race([n.closed, new Promise((res) => setTimeout(res, 5000))]);
      return n.text() === `answer from ${clone.pid}\n` || undefined;
    }, 60_000, 10);
    assert.equal(c.text(), '', 'the frozen template\'s client got no answer from the clone');
  } finally {
    for (const s of socks) s.destroy();
    await t.close();
  }
});
