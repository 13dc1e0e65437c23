// Sessions and process groups of the clone tree, as in the original. A copy
// is born in the session and group of the copy that forks it; `setsid` makes
// a new session (and group) led by its caller, which must not lead a group;
// `setpgid` joins or makes a group of the caller's session. So:
//  - a session leader's copy calls setsid after forking the copies of its
//    children that stay in the session it was born in, and before the rest;
//  - once every copy exists, group leaders' copies make their groups
//    (setpgid(0, 0)) before the other members join them (setpgid(0, G')).
// A session or group led from outside the tree can only be kept when the
// copy inherits it (the root's own group and session): anything else is
// refused before any copy is made.
import { RemoteError } from '../errors.js';

export interface Place {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  zombie: boolean;
  children: number[];
}

export interface SessionPlan {
  /** for each member, its children forked before its setsid (if it calls one), then those after */
  before: Map<number, number[]>;
  after: Map<number, number[]>;
  /** members whose copy calls setsid */
  sessionLeaders: Set<number>;
  /** members whose copy calls setpgid(0, 0), in order */
  groupLeaders: number[];
  /** member -> the original group id it must end in (a member's own PID when it leads) */
  groupOf: Map<number, number>;
}

const refuse = (msg: string) => new RemoteError(msg, 'not-supported');

/** `places` in creation (breadth-first) order, root first. Throws a RemoteError naming the member that cannot be placed. */
export function planSessions(places: Place[]): SessionPlan {
  const root = places[0]!;
  const byPid = new Map(places.map((p) => [p.pid, p]));
  const plan: SessionPlan = { before: new Map(), after: new Map(), sessionLeaders: new Set(), groupLeaders: [], groupOf: new Map() };
  /** the original session a member's copy is born in */
  const bornIn = new Map<number, number>([[root.pid, root.sid]]);
  for (const p of places) {
    const leads = p.sid === p.pid;
    if (leads) plan.sessionLeaders.add(p.pid);
    const before: number[] = [];
    const after: number[] = [];
    for (const c of p.children.map((x) => byPid.get(x)).filter((x): x is Place => !!x)) {
      if (c.sid === c.pid) {
        after.push(c.pid); // makes its own session: born anywhere
        bornIn.set(c.pid, p.sid);
      } else if (c.sid === p.sid) {
        after.push(c.pid);
        bornIn.set(c.pid, p.sid);
      } else if (leads && p !== root && c.sid === bornIn.get(p.pid)) {
        before.push(c.pid); // born before its parent's setsid, in the session the parent left
        bornIn.set(c.pid, c.sid);
      } else {
        throw refuse(
          `PID ${c.pid} is in session ${c.sid}, but its parent ${p.pid} is in session ${p.sid}${leads && p !== root ? ` and was born in session ${bornIn.get(p.pid)}` : ''}: its copy could not be placed in that session (a session is only inherited or made by setsid)`,
        );
      }
    }
    plan.before.set(p.pid, before);
    plan.after.set(p.pid, after);
  }
  for (const p of places) {
    if (p.pgid === p.pid) {
      if (!plan.sessionLeaders.has(p.pid)) plan.groupLeaders.push(p.pid); // setsid already made its group
    } else if (!byPid.has(p.pgid) && p.pgid !== root.pgid) {
      throw refuse(`PID ${p.pid} is in process group ${p.pgid}, led from outside the tree and not the group of the root ${root.pid} (${root.pgid}): its copy could not join it`);
    } else if (byPid.has(p.pgid) && byPid.get(p.pgid)!.sid !== p.sid) {
      throw refuse(`PID ${p.pid} is in process group ${p.pgid}, whose leader is in another session (${byPid.get(p.pgid)!.sid}, not ${p.sid})`);
    }
    plan.groupOf.set(p.pid, p.pgid);
  }
  return plan;
}
