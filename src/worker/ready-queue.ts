// Tasks ready to run, highest priority first, then in arrival order.
// A binary heap: tens of thousands of queued tasks stay cheap.

interface Item<T> {
  priority: number;
  seq: number;
  value: T;
}

export class ReadyQueue<T> {
  readonly #heap: Item<T>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(value: T, priority: number): void {
    const h = this.#heap;
    h.push({ priority, seq: this.#seq++, value });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < h.length && this.#before(h[l]!, h[best]!)) best = l;
        if (r < h.length && this.#before(h[r]!, h[best]!)) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best]!, h[i]!];
        i = best;
      }
    }
    return top.value;
  }

  #before(a: Item<T>, b: Item<T>): boolean {
    return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  }
}
