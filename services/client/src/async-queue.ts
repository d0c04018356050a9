/**
 * A queue read as an async iterator: `push` from callbacks, `for await` in
 * the application. `end` finishes the iteration after what is queued;
 * `fail` rejects the next read after what is queued.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  readonly #readers: {
    resolve: (result: IteratorResult<T>) => void;
    reject: (error: unknown) => void;
  }[] = [];
  #ended = false;
  #error: Error | undefined;
  #failed = false;
  readonly #onReturn: (() => void) | undefined;

  constructor(onReturn?: () => void) {
    this.#onReturn = onReturn;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#ended || this.#failed) return;
    const reader = this.#readers.shift();
    if (reader) reader.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  end(): void {
    if (this.#ended || this.#failed) return;
    this.#ended = true;
    for (const reader of this.#readers.splice(0)) reader.resolve({ value: undefined, done: true });
  }

  fail(error: Error): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#error = error;
    for (const reader of this.#readers.splice(0)) reader.reject(error);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#failed) return Promise.reject(this.#error ?? new Error('failed'));
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.#items.length = 0;
    this.end();
    this.#onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
