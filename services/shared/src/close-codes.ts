/**
 * WebSocket close codes, in ranges that tell a client what to do — the same
 * information SSE clients get as a final typed event:
 *
 * | range      | action             | meaning                                              |
 * | ---------- | ------------------ | ---------------------------------------------------- |
 * | 1000–1015  | resume             | protocol-level closes (RFC 6455): reconnect, resume  |
 * | 4000–4199  | resume             | reconnect with backoff (any edge), resume positions  |
 * | 4200–4299  | resume_elsewhere   | reconnect to the edge named in the hint, resume      |
 * | 4400–4499  | stop               | the client's request or credentials are wrong        |
 * | 4500–4599  | stop               | the server cannot serve this client; do not retry    |
 *
 * Browser-safe.
 */

export type ClientAction = 'resume' | 'resume_elsewhere' | 'retry' | 'stop';

export const CloseCodeRange = {
  resume: { from: 4000, to: 4199 },
  resumeElsewhere: { from: 4200, to: 4299 },
  stopClient: { from: 4400, to: 4499 },
  stopServer: { from: 4500, to: 4599 },
} as const;

/** The action a client takes after a WebSocket close with this code. */
export function actionForCloseCode(closeCode: number): Exclude<ClientAction, 'retry'> {
  const { resume, resumeElsewhere, stopClient, stopServer } = CloseCodeRange;
  if (closeCode >= resumeElsewhere.from && closeCode <= resumeElsewhere.to) {
    return 'resume_elsewhere';
  }
  if (closeCode >= stopClient.from && closeCode <= stopClient.to) return 'stop';
  if (closeCode >= stopServer.from && closeCode <= stopServer.to) return 'stop';
  if (closeCode >= resume.from && closeCode <= resume.to) return 'resume';
  // 1002 (protocol error) and 1003 (unsupported data) will not fix themselves.
  if (closeCode === 1002 || closeCode === 1003 || closeCode === 1007 || closeCode === 1008) {
    return 'stop';
  }
  // 1000/1001/1005/1006/1011/1012/1013 and unknown codes: a network or server hiccup.
  return 'resume';
}
