// The remote engine as a process of its own, which the Node API (api.ts)
// starts for each cloneProcess(). While it holds the target's threads
// (registers changed for an injected call) nothing must stop it half-way, so
// it ignores SIGINT, SIGTERM and SIGHUP, and a killed caller does not take it
// down. If the caller goes away before the clone exists, it gives the target
// back untouched and makes no clone. Request: JSON in argv[2]; reply: JSON on stdout.
import { writeSync } from 'node:fs';
import { getppid } from './libc.js';
import { runRequest, type CloneRequest } from './request.js';

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});

const parent = getppid();
const req = JSON.parse(process.argv[2] ?? '{}') as CloneRequest;
const reply = runRequest(req, () => getppid() !== parent);
try {
  writeSync(1, JSON.stringify(reply) + '\n');
} catch {
  // the CLI is gone: nobody to tell
}
process.exit(0);
