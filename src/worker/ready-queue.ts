// Tasks ready to run, highest priority first, then in arrival order. Tasks
// come in few distinct priorities (most in one), so each priority has a FIFO
// of its own: pushing and popping cost no comparisons, however many wait.

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

export class ReadyQueue<T> {
  readonly #byPriority = new Map<number, Fifo<T>>();
  /** Priorities with tasks waiting, highest first. */
  #order: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(value: T, priority: number): void {
    let q = this.#byPriority.get(priority);
    if (!q) {
      this.#byPriority.set(priority, (q = new Fifo()));
      let i = 0;
      while (i < this.#order.length && this.#order[i]! > priority) i++;
      this.#order.splice(i, 0, priority);
    }
    q.push(value);
    this.#size++;
  }

  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const priority = this.#order[0]!;
    const q = this.#byPriority.get(priority)!;
    const v = q.shift()!;
    this.#size--;
    if (q.size === 0) {
      this.#byPriority.delete(priority);
      this.#order.shift();
    }
    return v;
  }
}
