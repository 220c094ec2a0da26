// Variables (Dask's Variable): one value per name, shared; a get waits until
// one is set.

import type { CoordGetReply, CoordValue, VariableGet, VariableSet } from "../../protocol/messages.js";
import type { HeldKeys } from "./values.js";
import { Waiters } from "./waiters.js";

interface VariableState {
  value: CoordValue | undefined;
  getters: Waiters<CoordGetReply>;
}

const TIMED_OUT: CoordGetReply = { timeout: true };

export class Variables {
  readonly #vars = new Map<string, VariableState>();
  readonly #held: HeldKeys;

  constructor(held: HeldKeys) {
    this.#held = held;
  }

  set(msg: VariableSet): null {
    let v = this.#vars.get(msg.name);
    if (!v) this.#vars.set(msg.name, (v = { value: undefined, getters: new Waiters() }));
    // The new value's keys are held before the old value's are let go: setting the same Future again keeps it.
    this.#held.hold(msg.keys);
    if (v.value) this.#held.unhold(v.value.keys);
    v.value = { value: msg.value, keys: msg.keys };
    for (let w = v.getters.shift(); w; w = v.getters.shift()) {
      this.#held.share(msg.keys, w.client);
      w.resolve({ value: msg.value });
    }
    return null;
  }

  get(client: string, msg: VariableGet): CoordGetReply | Promise<CoordGetReply> {
    let v = this.#vars.get(msg.name);
    if (v?.value) {
      this.#held.share(v.value.keys, client);
      return { value: v.value.value };
    }
    if (msg.timeoutMs === 0) return TIMED_OUT;
    if (!v) this.#vars.set(msg.name, (v = { value: undefined, getters: new Waiters() }));
    const state = v;
    return v.getters.add(client, msg.timeoutMs, () => {
      this.#tidy(msg.name, state);
      return TIMED_OUT;
    });
  }

  delete(name: string): null {
    const v = this.#vars.get(name);
    if (v?.value) this.#held.unhold(v.value.keys);
    if (v) {
      v.value = undefined;
      this.#tidy(name, v);
    }
    return null;
  }

  clientGone(client: string): void {
    for (const [name, v] of this.#vars) {
      v.getters.dropClient(client);
      this.#tidy(name, v);
    }
  }

  #tidy(name: string, v: VariableState): void {
    if (v.value === undefined && v.getters.size === 0) this.#vars.delete(name);
  }
}
