/**
 * GET and long-poll of one channel's events (`GET /v1/channels/{channel}`,
 * `after`, `limit`, `wait`, `rewind`): the query parsed into a channel read
 * (subscriptions/channel-read.ts), answered as JSON. `rewind=N` without
 * `after` answers the channel's last N events (subscriptions/channel-rewind.ts)
 * and says what the scan found; with `after`, the resume wins.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { parseRewind, rewindStart, rewindSummary } from '../subscriptions/channel-rewind.js';
import { parseStreamCursor } from '../subscriptions/stream-cursor.js';
import {
  authorizeRead,
  readChannel,
  type ChannelReadOptions,
} from '../subscriptions/channel-read.js';
import { integerParameter, sendJson } from './http-answers.js';
import type { RequestFacts } from './request-facts.js';

export async function answerChannelRead(
  options: ChannelReadOptions,
  response: HttpResponse,
  facts: RequestFacts,
  state: { aborted: boolean },
  abort: AbortController,
): Promise<void> {
  const identity = await options.auth.identify(facts.token);
  authorizeRead(options, identity, facts.channel);
  let limit = integerParameter(facts.query, 'limit', 100, 1, 1000);
  const wait = integerParameter(facts.query, 'wait', 0, 0, options.config.longPollMaxSeconds);
  const rewind = parseRewind(facts.query.get('rewind'), options.config.maxRewind);
  let afterText = facts.query.get('after') ?? '';
  let rewound: ReturnType<typeof rewindSummary> | undefined;
  if (afterText === '' && rewind !== undefined) {
    const start = await rewindStart(options, { channel: facts.channel, count: rewind });
    afterText = start.position;
    limit = Math.max(1, rewind);
    rewound = rewindSummary(start);
  }
  const after = afterText === '' ? undefined : parseStreamCursor(afterText);
  const result = await readChannel(
    options,
    {
      channel: facts.channel,
      ...(after === undefined ? {} : { after }),
      afterText,
      limit,
      wait,
    },
    () => state.aborted,
    abort.signal,
  );
  if (result === undefined || state.aborted) return;
  options.metrics.httpRequests.inc({ route: 'channel', status: '200' });
  sendJson(
    response,
    200,
    `{"channel":${JSON.stringify(facts.channel)},"events":[${result.events.map((event) => event.json).join(',')}],"position":${JSON.stringify(result.position)}${rewound === undefined ? '' : `,"rewind":${JSON.stringify(rewound)}`}}`,
  );
}
