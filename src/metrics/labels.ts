// Label values with a bound: a metric's series cost memory in every scraper,
// so the names a label takes (task groups, actor classes) are capped. The
// first MAX_LABEL_VALUES names seen keep their own series; later ones share
// OTHER. A name keeps its value for the life of the process, so counters summed
// under OTHER only ever rise.

export const MAX_LABEL_VALUES = 100;
export const OTHER = "other";

export class BoundedLabels {
  readonly #known = new Map<string, string>();

  constructor(readonly max = MAX_LABEL_VALUES) {}

  of(name: string): string {
    const v = this.#known.get(name);
    if (v !== undefined) return v;
    // Once full, nothing more is remembered: every new name is OTHER, now and later.
    if (this.#known.size >= this.max || name === OTHER) return OTHER;
    this.#known.set(name, name);
    return name;
  }
}
