/**
 * No exception thrown inside a uWebSockets.js callback may end the edge: uWS
 * calls JavaScript from C++, where an uncaught exception (or a rejection
 * nobody handles) takes the whole process, and every client, with it.
 *
 * `guardApp` registers routes and WebSocket behaviours through a guard: a
 * handler that throws ends only its own connection or request — a WebSocket
 * with `internal` (4000) and its positions, an HTTP request with a 500
 * `internal` JSON answer if nothing was written yet, else by closing it —
 * is logged, and counted in `fanout_edge_handler_errors_total{handler}`.
 * Callbacks registered inside a handler (onAborted, onData, onWritable,
 * timers, promise continuations) go through `guard` / `guardResponse`.
 */
import { FanoutError, toCloseCode, type Logger } from '@fanout/shared';
import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  WebSocket,
  WebSocketBehavior,
} from 'uWebSockets.js';
import type { EdgeMetrics } from '../edge-metrics.js';
import { httpStatusLine } from './http-status.js';

/**
 * Fault injection for tests: called with the handler's name on entry to
 * every guarded handler; whatever it throws is treated as the handler's own
 * exception. Unset in production.
 */
export const uwsFaults: { inject: ((handler: string) => void) | undefined } = {
  inject: undefined,
};

export interface HandlerGuard {
  /** Logs and counts an exception of `handler`; never throws. */
  report(handler: string, error: unknown): void;
}

export function createHandlerGuard(logger: Logger, metrics: EdgeMetrics): HandlerGuard {
  return {
    report(handler, error) {
      try {
        metrics.handlerErrors.inc({ handler });
        logger.error({ err: error, handler }, 'uWebSockets.js handler failed');
      } catch {
        // Reporting must not fail the guard.
      }
    },
  };
}

/** Responses whose status line and headers have gone out (a stream started). */
const streaming = new WeakSet<HttpResponse>();
/** Responses that are finished: ended, upgraded or aborted. */
const finished = new WeakSet<HttpResponse>();

/** Marks a response whose headers were written: a failure closes it instead of answering 500. */
export function markStreaming(response: HttpResponse): void {
  streaming.add(response);
}

/** Marks a response that must not be touched any more. */
export function markFinished(response: HttpResponse): void {
  finished.add(response);
}

/**
 * Ends a request whose handler failed: 500 `internal` JSON when nothing was
 * written yet, else closes the connection. uWS throws on a response that
 * was already ended or aborted; that is ignored.
 */
export function failResponse(response: HttpResponse): void {
  if (finished.has(response)) return;
  finished.add(response);
  try {
    if (streaming.has(response)) {
      response.close();
      return;
    }
    const error = new FanoutError('internal', 'the request failed; it was logged');
    response.cork(() => {
      response
        .writeStatus(httpStatusLine(500))
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify(error.toJSON()));
    });
  } catch {
    try {
      response.close();
    } catch {
      // Already gone.
    }
  }
}

/** Ends a WebSocket whose handler failed with the `internal` close code, without a frame. */
export function failSocket(ws: WebSocket<unknown>): void {
  try {
    ws.end(toCloseCode('internal'), 'internal');
  } catch {
    // Already closed.
  }
}

/** Runs `callback` under the guard; `onFault` ends what it belongs to. */
export function guard<A extends unknown[]>(
  guardOf: HandlerGuard,
  handler: string,
  callback: (...args: A) => unknown,
  onFault: (error: unknown, ...args: A) => void,
): (...args: A) => void {
  const fault = (error: unknown, args: A): void => {
    guardOf.report(handler, error);
    try {
      onFault(error, ...args);
    } catch (again) {
      guardOf.report(handler, again);
    }
  };
  return (...args: A): void => {
    try {
      uwsFaults.inject?.(handler);
      const result = callback(...args);
      // An async handler's rejection is its exception too.
      if (result instanceof Promise) {
        result.catch((error: unknown) => {
          fault(error, args);
        });
      }
    } catch (error) {
      fault(error, args);
    }
  };
}

/** A guarded callback of one HTTP response: a fault fails that response. */
export function guardResponse<A extends unknown[]>(
  guardOf: HandlerGuard,
  handler: string,
  response: HttpResponse,
  callback: (...args: A) => void,
): (...args: A) => void {
  return guard(guardOf, handler, callback, () => {
    failResponse(response);
  });
}

type RouteHandler = (response: HttpResponse, request: HttpRequest) => void;
type RouteMethod = 'get' | 'post' | 'options' | 'del' | 'patch' | 'put' | 'head' | 'any';

/**
 * The app for registering routes and WebSocket behaviours: each goes
 * through the guard. Other calls reach the app itself; hot paths (publish)
 * use the app directly rather than through this view. `ws` behaviours may name `onFault` to end a socket their own way
 * (with a Disconnect frame); without it the socket is ended with 4000.
 */
export function guardApp(app: TemplatedApp, guardOf: HandlerGuard): TemplatedApp {
  const routes: readonly RouteMethod[] = [
    'get',
    'post',
    'options',
    'del',
    'patch',
    'put',
    'head',
    'any',
  ];
  const guarded: Record<string, unknown> = {};
  for (const method of routes) {
    guarded[method] = (pattern: string, handler: RouteHandler): TemplatedApp => {
      const route = `http ${method.toUpperCase()} ${pattern}`;
      app[method](
        pattern,
        guard(guardOf, route, handler, (_error, response) => {
          failResponse(response);
        }),
      );
      return proxy;
    };
  }
  guarded['ws'] = <UserData>(pattern: string, behavior: GuardedBehavior<UserData>) => {
    app.ws<UserData>(pattern, guardBehavior(guardOf, behavior));
    return proxy;
  };
  const proxy = new Proxy(app, {
    get(target, property, receiver) {
      if (typeof property === 'string' && Object.hasOwn(guarded, property)) {
        return guarded[property];
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return proxy;
}

export interface GuardedBehavior<UserData> extends WebSocketBehavior<UserData> {
  /** Ends a socket whose handler threw; the default closes it with 4000. */
  readonly onFault?: (ws: WebSocket<UserData>, error: unknown) => void;
  /** Finishes the bookkeeping of a socket whose close handler threw. */
  readonly onCloseFault?: (ws: WebSocket<UserData>) => void;
}

function guardBehavior<UserData>(
  guardOf: HandlerGuard,
  behavior: GuardedBehavior<UserData>,
): WebSocketBehavior<UserData> {
  const { onFault, onCloseFault, ...rest } = behavior;
  const endSocket = (ws: WebSocket<UserData>, error: unknown): void => {
    if (onFault) onFault(ws, error);
    else failSocket(ws);
  };
  const out: WebSocketBehavior<UserData> = { ...rest };
  if (rest.upgrade) {
    out.upgrade = guard(guardOf, 'ws upgrade', rest.upgrade, (_error, response) => {
      failResponse(response);
    });
  }
  if (rest.open) {
    out.open = guard(guardOf, 'ws open', rest.open, (error, ws) => {
      endSocket(ws, error);
    });
  }
  if (rest.message) {
    out.message = guard(guardOf, 'ws message', rest.message, (error, ws) => {
      endSocket(ws, error);
    });
  }
  if (rest.drain) {
    out.drain = guard(guardOf, 'ws drain', rest.drain, (error, ws) => {
      endSocket(ws, error);
    });
  }
  if (rest.ping) {
    out.ping = guard(guardOf, 'ws ping', rest.ping, (error, ws) => {
      endSocket(ws, error);
    });
  }
  if (rest.pong) {
    out.pong = guard(guardOf, 'ws pong', rest.pong, (error, ws) => {
      endSocket(ws, error);
    });
  }
  if (rest.subscription) {
    out.subscription = guard(guardOf, 'ws subscription', rest.subscription, () => undefined);
  }
  // The socket is gone already: only its bookkeeping is left.
  if (rest.close) {
    out.close = guard(guardOf, 'ws close', rest.close, (_error, ws) => {
      onCloseFault?.(ws);
    });
  }
  return out;
}
