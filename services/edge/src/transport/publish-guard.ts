/**
 * Keeps every WebSocket under uWebSockets.js's hard backpressure limit, so
 * the edge always closes a client that reads too slowly itself — with
 * `disconnect`, its positions and close 4008 — before uWS would drop it
 * without a close frame (closeOnBackpressureLimit; a close frame over that
 * limit is dropped as well).
 *
 * A topic publish only queues frames in uWS; they reach each subscriber's
 * buffer when the event loop turns. Buffered amounts therefore do not show
 * what this turn published. The guard counts the bytes published (an upper
 * bound of what any one connection received) and, before the count since
 * the last check would pass `budgetBytes`, checks the connections again;
 * one that this turn's bytes might take over the limit is first handed what
 * uWS queued for it, so its buffered amount is exact. A client kept by a check
 * holds at most the close threshold, and at most `budgetBytes` more until
 * the next one: the rest of uWS's limit is room for the close.
 */
export class PublishGuard {
  readonly #budgetBytes: number;
  /** Closes the connections over the threshold, counting `pendingBytes` as buffered. */
  readonly #check: (pendingBytes: number) => void;
  #sinceCheck = 0;
  #thisTurn = 0;
  readonly #turnEnded = (): void => {
    this.#thisTurn = 0;
  };

  constructor(budgetBytes: number, check: (pendingBytes: number) => void) {
    this.#budgetBytes = budgetBytes;
    this.#check = check;
  }

  /** Call before publishing a frame of `bytes` bytes. */
  beforePublish(bytes: number): void {
    if (this.#sinceCheck > 0 && this.#sinceCheck + bytes > this.#budgetBytes) this.checkNow();
    this.#sinceCheck += bytes;
    // uWS hands queued frames to the sockets as the loop turns; this runs after.
    if (this.#thisTurn === 0) setImmediate(this.#turnEnded);
    this.#thisTurn += bytes;
  }

  /** Checks the connections now (also every 50 ms, between bursts). */
  checkNow(): void {
    this.#check(this.#thisTurn);
    this.#sinceCheck = 0;
  }
}
