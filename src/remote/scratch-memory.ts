// Scratch writes into a clone's memory: arguments of injected calls (signal
// stack, name, clone3 arguments, capability sets, event-object arguments) go
// to dead bytes below a thread's stack pointer. Dead for a C thread, but a
// thread stopped on a small stack (a goroutine's, a coroutine's) may have live
// memory there: another stack, heap. So every scratch write remembers what it
// covered, and the clone gets those bytes back before any of its threads runs.
import { ProcessMemory } from './memory.js';

export class ScratchMemory extends ProcessMemory {
  private readonly covered: { at: bigint; bytes: Buffer }[] = [];

  override write(addr: bigint, data: Buffer): void {
    this.covered.push({ at: addr, bytes: this.read(addr, data.length) });
    super.write(addr, data);
  }

  /** Puts back every byte the scratch writes covered, newest first. */
  restore(): void {
    for (const c of this.covered.splice(0).reverse()) super.write(c.at, c.bytes);
  }
}
