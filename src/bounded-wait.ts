// Waiting for something that should happen soon, but need not: a process
// closing, a connection noticed gone. Past the bound the caller goes on.

/** Resolves once `promise` settles or `ms` have passed, whichever is first; never rejects. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([promise.then(() => undefined, () => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
