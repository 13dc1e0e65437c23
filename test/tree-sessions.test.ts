// The order in which a clone tree's copies join their sessions and groups
// (src/remote/tree/sessions.ts), on made-up trees: which children are forked
// before a session leader's setsid, which groups are made first, and which
// shapes are refused with the member named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSessions, type Place } from '../src/remote/tree/sessions.js';
import { RemoteError } from '../src/remote/errors.js';

const place = (pid: number, ppid: number, pgid: number, sid: number, children: number[] = [], zombie = false): Place => ({ pid, ppid, pgid, sid, zombie, children });

test('a shell pipeline: the root leads nothing, the first stage leads the job\'s group, the second joins it', { timeout: 10_000 }, () => {
  const plan = planSessions([place(100, 1, 50, 50, [101, 102]), place(101, 100, 101, 50), place(102, 100, 101, 50)]);
  assert.deepEqual([...plan.sessionLeaders], []);
  assert.deepEqual(plan.groupLeaders, [101]);
  assert.deepEqual(plan.after.get(100), [101, 102]);
  assert.deepEqual(plan.groupOf.get(102), 101);
  assert.deepEqual(plan.groupOf.get(100), 50, 'the root keeps its outside group');
});

test('a session leader whose child stayed in the session it was born in: that child is forked before the setsid', { timeout: 10_000 }, () => {
  // 200 forked 201 (session 10), then 200 called setsid... 200 is the root's child here
  const plan = planSessions([place(199, 1, 10, 10, [200]), place(200, 199, 200, 200, [201, 202]), place(201, 200, 10, 10), place(202, 200, 200, 200)]);
  assert.deepEqual([...plan.sessionLeaders], [200]);
  assert.deepEqual(plan.before.get(200), [201]);
  assert.deepEqual(plan.after.get(200), [202]);
  assert.deepEqual(plan.groupLeaders, [], 'the session leader\'s setsid makes its group; 201 stays in the root\'s outside group 10');
});

test('a zombie that leads a group still has its group made before the members join', { timeout: 10_000 }, () => {
  const plan = planSessions([place(300, 1, 9, 9, [301, 302]), place(301, 300, 301, 9, [], true), place(302, 300, 301, 9)]);
  assert.deepEqual(plan.groupLeaders, [301]);
  assert.equal(plan.groupOf.get(302), 301);
});

test('refused: a member in a group led from outside the tree that is not the root\'s, a child in an unreachable session', { timeout: 10_000 }, () => {
  assert.throws(() => planSessions([place(400, 1, 9, 9, [401]), place(401, 400, 77, 9)]), (e: unknown) => e instanceof RemoteError && e.code === 'not-supported' && /PID 401 is in process group 77/.test(e.message));
  // the root leads its session: a child in another session (the one the root left) cannot be placed
  assert.throws(() => planSessions([place(500, 1, 500, 500, [501]), place(501, 500, 8, 8)]), (e: unknown) => e instanceof RemoteError && /PID 501 is in session 8/.test(e.message));
});
