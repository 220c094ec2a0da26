// A scheduler or worker started from the command line stops cleanly on
// Ctrl-C or SIGTERM: it says goodbye to its peers before the process exits.

export function stopOnSignals(stop: () => Promise<void>): void {
  const handler = () => void stop().then(() => process.exit(0));
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
