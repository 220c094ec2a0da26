// A set of strings that almost always holds none or one (a key's holders, the
// clients that want it): the member is kept in a field until a second one
// arrives, so the common case costs no hash table.

export class Few implements Iterable<string> {
  #one: string | undefined;
  #many: Set<string> | undefined;

  get size(): number {
    return this.#many ? this.#many.size : this.#one === undefined ? 0 : 1;
  }

  has(x: string): boolean {
    return this.#many ? this.#many.has(x) : this.#one === x;
  }

  add(x: string): this {
    if (this.#many) this.#many.add(x);
    else if (this.#one === undefined) this.#one = x;
    else if (this.#one !== x) {
      this.#many = new Set([this.#one, x]);
      this.#one = undefined;
    }
    return this;
  }

  delete(x: string): boolean {
    if (this.#many) return this.#many.delete(x);
    if (this.#one !== x) return false;
    this.#one = undefined;
    return true;
  }

  clear(): void {
    this.#one = undefined;
    this.#many = undefined;
  }

  toArray(): string[] {
    return this.#many ? [...this.#many] : this.#one === undefined ? [] : [this.#one];
  }

  [Symbol.iterator](): Iterator<string> {
    return this.toArray()[Symbol.iterator]();
  }
}
