// Calls waiting to be sent, in call order. A pipelining caller past its bound
// on calls in flight may queue hundreds of thousands, and Array#shift on an
// array that large moves every element (V8 trims only smaller arrays in
// place): 200,000 shifts took ~2 s. A read index keeps each step O(1).

/** Consumed slots dropped once there are at least this many, and they are half the array. */
const COMPACT_AFTER = 1024;

export class CallQueue<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined; // the call's arguments go with it
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
