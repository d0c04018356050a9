/**
 * What the hostile-input run saw: every answer counted by its class
 * (`edge-http 401 unauthenticated`, `ws-json close 4401`, ...), and the
 * answers that break the contract, with a sample of each.
 */
export class AnswerTally {
  readonly classes = new Map<string, number>();
  readonly wrong = new Map<string, { count: number; sample: string }>();
  /** The first input of answer classes worth a look (timeouts, resets), by class. */
  readonly samples = new Map<string, string>();
  /** Inputs sent, per target. */
  readonly inputs = new Map<string, number>();

  sent(target: string, count = 1): void {
    this.inputs.set(target, (this.inputs.get(target) ?? 0) + count);
  }

  get total(): number {
    let total = 0;
    for (const count of this.inputs.values()) total += count;
    return total;
  }

  /** Counts an answer; `sample` keeps the first input of the class. */
  answer(kind: string, sample?: string): void {
    this.classes.set(kind, (this.classes.get(kind) ?? 0) + 1);
    if (sample !== undefined && !this.samples.has(kind))
      this.samples.set(kind, sample.slice(0, 600));
  }

  /** An answer the contract does not allow; `sample` shows the input and the answer. */
  fail(kind: string, sample: string): void {
    const known = this.wrong.get(kind);
    if (known) known.count++;
    else this.wrong.set(kind, { count: 1, sample: sample.slice(0, 600) });
  }

  get wrongAnswers(): number {
    let total = 0;
    for (const { count } of this.wrong.values()) total += count;
    return total;
  }
}
