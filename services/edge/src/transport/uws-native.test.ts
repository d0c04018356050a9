import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import uWS from 'uWebSockets.js';
import { requireNativeUws, uwsNativeStatus } from './uws-native.js';

describe('uWebSockets.js native check', () => {
  it('accepts the native binary that loads on this machine', () => {
    const status = uwsNativeStatus(uWS, {});
    assert.equal(status.native, true, status.problem);
    assert.match(status.binary, /uws_linux_x64_115\.node$|uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/);
    assert.equal(requireNativeUws(uWS, {}), uWS);
  });

  it('refuses the pure-JavaScript fallback forced by UWS_USE_FALLBACK', () => {
    const status = uwsNativeStatus(uWS, { UWS_USE_FALLBACK: 'true' });
    assert.equal(status.native, false);
    assert.throws(() => requireNativeUws(uWS, { UWS_USE_FALLBACK: '1' }), /refuses to start/);
  });

  it('refuses a module whose App is JavaScript, naming the binary it needs', () => {
    const fallback = { ...uWS, App: function App() {} } as unknown as typeof uWS;
    const status = uwsNativeStatus(fallback, {});
    assert.equal(status.native, false);
    assert.match(status.problem ?? '', /pure-JavaScript/);
    assert.match(status.problem ?? '', /Node\.js 20/);
  });
});
