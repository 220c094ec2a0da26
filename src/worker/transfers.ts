// How many dependencies a worker receives from peers at once (R-FLOW-3). A
// worker whose tasks need many values would otherwise ask every holder at
// once and hold all the bytes in flight together; here at most `count`
// get-data requests, holding at most `bytes` between them, are in flight, and
// the rest wait their turn in the order they were asked for. One request asks
// for at most bytes / count, so that `count` of them fit together; a value
// larger than the byte bound still comes, alone.

export interface TransferLimits {
  /** Get-data requests in flight at once. */
  count: number;
  /** Bytes of the values they bring, together (sizes as the scheduler reported them). */
  bytes: number;
}

interface Transfer {
  keys: string[];
  bytes: number;
  fetch: (keys: string[]) => Promise<void>;
}

export class IncomingTransfers {
  readonly #limits: TransferLimits;
  #queue: Transfer[] = [];
  #head = 0;
  #count = 0;
  #bytes = 0;

  constructor(limits: TransferLimits) {
    this.#limits = limits;
  }

  /** What is in flight now. */
  get inFlight(): { count: number; bytes: number } {
    return { count: this.#count, bytes: this.#bytes };
  }

  /**
   * Fetch `keys` (of `sizes` bytes each, 0 when unknown) from one holder,
   * in requests started when there is room. `fetch` settles when its request
   * is done, whatever the outcome.
   */
  add(keys: string[], sizes: number[], fetch: (keys: string[]) => Promise<void>): void {
    const most = this.#limits.bytes / this.#limits.count;
    let part: string[] = [];
    let partBytes = 0;
    for (let i = 0; i < keys.length; i++) {
      const size = sizes[i] ?? 0;
      if (part.length > 0 && partBytes + size > most) {
        this.#queue.push({ keys: part, bytes: partBytes, fetch });
        part = [];
        partBytes = 0;
      }
      part.push(keys[i]!);
      partBytes += size;
    }
    if (part.length > 0) this.#queue.push({ keys: part, bytes: partBytes, fetch });
    this.#pump();
  }

  /** Forget the transfers not started: the worker is closing. */
  clear(): void {
    this.#queue = [];
    this.#head = 0;
  }

  #pump(): void {
    while (this.#head < this.#queue.length && this.#count < this.#limits.count) {
      const next = this.#queue[this.#head]!;
      // In order: a large transfer is not overtaken for ever by small ones.
      if (this.#count > 0 && this.#bytes + next.bytes > this.#limits.bytes) break;
      this.#head++;
      this.#count++;
      this.#bytes += next.bytes;
      const done = () => {
        this.#count--;
        this.#bytes -= next.bytes;
        this.#pump();
      };
      next.fetch(next.keys).then(done, done);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
