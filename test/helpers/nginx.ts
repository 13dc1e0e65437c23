// A pre-fork server nobody here wrote, for the tree tests: nginx as root,
// whose 2 worker processes drop to an unprivileged user and run a pool of 4
// threads each, serving a page with a random token from a fresh directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { freePort } from './servers.js';
import { have } from './programs.js';

/** Why an nginx test cannot run here, or false. */
export const nginxSkip = (): string | false =>
  !have('nginx') ? 'nginx is not installed (apt-get install nginx-light)' : process.getuid?.() !== 0 ? 'nginx drops its workers to another user only when started as root' : false;

export function nginxConfig(dir: string, port: number): string {
  return [
    'worker_processes 2;',
    'daemon off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log;`,
    'events { worker_connections 256; }',
    'thread_pool default threads=4 max_queue=256;', // each worker: its main thread + 4 pool threads
    'http {',
    '  aio threads;', // files are read by the pool threads
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp;`),
    `  server { listen 127.0.0.1:${port}; root ${dir}/html; }`,
    '}',
  ].join('\n');
}

/** Starts nginx (not daemonized: `master` is its master process); the caller ends it and removes `dir`. */
export async function startNginx(): Promise<{ dir: string; port: number; token: string; master: ChildProcess }> {
  const dir = mkdtempSync('/tmp/forkall-nginx-');
  chmodSync(dir, 0o755); // the workers' user reads the page
  mkdirSync(join(dir, 'html'));
  mkdirSync(join(dir, 'tmp'));
  const token = randomUUID();
  writeFileSync(join(dir, 'html', 'index.html'), token);
  chmodSync(join(dir, 'html'), 0o755);
  chmodSync(join(dir, 'html', 'index.html'), 0o644);
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port));
  const master = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  return { dir, port, token, master };
}
