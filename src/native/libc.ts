// The one handle on the C library that forkall's TypeScript calls into through
// koffi (ptrace and friends for the remote engine, fd passing and peer
// credentials for the snapshot server's clients).
//
// Loaded on the first call of a bound function, never at import: `import
// 'forkall'` works on a host without glibc's libc.so.6 (musl), and only a call
// that needs the C library fails there, with a message saying which library
// and why. FORKALL_LIBC names another file to load instead (the tests use it
// to play a host without libc.so.6).
import koffi from 'koffi';

const LIBC = process.env.FORKALL_LIBC || 'libc.so.6';

let handle: ReturnType<typeof koffi.load> | undefined;

function load(decl: string): ReturnType<typeof koffi.load> {
  if (handle) return handle;
  try {
    handle = koffi.load(LIBC);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      `cannot load the C library ${LIBC} (${why}), needed for ${/(\w+)\s*\(/.exec(decl)?.[1] ?? decl}(): ` +
        `the remote engine and the snapshot server's clients call glibc through it (FORKALL_LIBC names another C library to try)`,
    );
  }
  return handle;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Bound = (...args: any[]) => any;

export const libc = {
  /** A C function by its prototype, bound when first called (koffi's `lib.func`). */
  func(decl: string): Bound {
    let fn: Bound | undefined;
    return (...args) => (fn ??= load(decl).func(decl) as Bound)(...args);
  },
};

/** errno as the last koffi call left it. */
export const lastErrno = (): number => koffi.errno() as number;
