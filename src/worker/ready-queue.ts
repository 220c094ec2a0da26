// Tasks ready to run, highest priority first, then in arrival order. Each
// priority has a FIFO of its own, and the priorities with tasks waiting form
// a small heap: with the usual one or few priorities a push or pop costs no
// comparison at all, and a task per priority still costs only O(log n).

class Fifo<T> {
  items: T[] = [];
  head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    this.items.push(v);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head]!;
    this.items[this.head++] = undefined as T; // let it go
    // Drop the consumed front once it is most of the array.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}

/** A max-heap of numbers. */
class Heap {
  readonly #a: number[] = [];

  get top(): number | undefined {
    return this.#a[0];
  }

  push(x: number): void {
    const a = this.#a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! >= x) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = x;
  }

  pop(): void {
    const a = this.#a;
    const last = a.pop()!;
    if (a.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]! > a[l]! ? r : l;
      if (a[c]! <= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
  }
}

export class ReadyQueue<T> {
  readonly #byPriority = new Map<number, Fifo<T>>();
  readonly #priorities = new Heap();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(value: T, priority: number): void {
    let q = this.#byPriority.get(priority);
    if (!q) {
      this.#byPriority.set(priority, (q = new Fifo()));
      this.#priorities.push(priority);
    }
    q.push(value);
    this.#size++;
  }

  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const priority = this.#priorities.top!;
    const q = this.#byPriority.get(priority)!;
    const v = q.shift()!;
    this.#size--;
    if (q.size === 0) {
      this.#byPriority.delete(priority);
      this.#priorities.pop();
    }
    return v;
  }
}
