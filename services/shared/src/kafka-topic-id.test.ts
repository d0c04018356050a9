import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topicIdToEpoch } from './kafka-topic-id.js';

describe('topic id as a position epoch', () => {
  it('is base64url of the 16 bytes of Kafka UUID text, with or without dashes', () => {
    assert.equal(topicIdToEpoch('00112233-4455-6677-8899-aabbccddeeff'), 'ABEiM0RVZneImaq7zN3u_w');
    assert.equal(topicIdToEpoch('00112233445566778899AABBCCDDEEFF'), 'ABEiM0RVZneImaq7zN3u_w');
  });

  it('refuses anything that is not a UUID', () => {
    for (const text of [
      '',
      'not-a-uuid',
      '00112233-4455-6677-8899-aabbccddeef',
      'zz112233445566778899aabbccddeeff',
    ]) {
      assert.throws(() => topicIdToEpoch(text), /not a topic id/, text);
    }
  });
});
