// Package sse is the k6 JavaScript module "k6/x/sse": a Server-Sent Events
// client for load scripts. The stream is parsed by github.com/tmaxmax/go-sse.
//
//	import sse from 'k6/x/sse';
//
//	const result = sse.open(url, { headers: {}, timeout: '30s' }, (client) => {
//	  client.on('open', (response) => {});      // { status }
//	  client.on('event', (event) => {           // { id, name, data }
//	    if (done) client.close();
//	  });
//	  client.on('error', (error) => {});        // { error, status }
//	});
//	// result: { status, error, timedOut, events, body }
//
// open() blocks the VU until the stream ends, the server closes it, the
// handler calls client.close(), the timeout passes or the test stops; the
// handlers run on the VU, one after the other. Requests go through the VU's
// own transport, so k6's options (blocked hostnames, TLS, DNS) apply.
package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/grafana/sobek"
	gosse "github.com/tmaxmax/go-sse"
	"go.k6.io/k6/js/modules"
)

func init() {
	modules.Register("k6/x/sse", new(rootModule))
}

type rootModule struct{}

// NewModuleInstance is called once per VU that imports the module.
func (*rootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	return &instance{vu: vu}
}

type instance struct {
	vu modules.VU
}

// Exports: the default export is an object with open().
func (mi *instance) Exports() modules.Exports {
	return modules.Exports{Named: map[string]any{"open": mi.open}, Default: map[string]any{"open": mi.open}}
}

type options struct {
	method       string
	body         string
	headers      map[string]string
	timeout      time.Duration
	maxEventSize int
}

func parseOptions(rt *sobek.Runtime, value sobek.Value) (options, error) {
	opts := options{method: http.MethodGet, headers: map[string]string{}}
	if value == nil || sobek.IsUndefined(value) || sobek.IsNull(value) {
		return opts, nil
	}
	object := value.ToObject(rt)
	for _, key := range object.Keys() {
		field := object.Get(key)
		switch key {
		case "method":
			opts.method = strings.ToUpper(field.String())
		case "body":
			opts.body = field.String()
		case "headers":
			headers := field.ToObject(rt)
			for _, name := range headers.Keys() {
				opts.headers[name] = headers.Get(name).String()
			}
		case "timeout":
			if number, ok := field.Export().(int64); ok {
				opts.timeout = time.Duration(number) * time.Millisecond
			} else if number, ok := field.Export().(float64); ok {
				opts.timeout = time.Duration(number * float64(time.Millisecond))
			} else {
				duration, err := time.ParseDuration(field.String())
				if err != nil {
					return opts, fmt.Errorf("sse.open: timeout %q: %w", field.String(), err)
				}
				opts.timeout = duration
			}
		case "maxEventSize":
			opts.maxEventSize = int(field.ToInteger())
		default:
			return opts, fmt.Errorf("sse.open: unknown option %q (method, body, headers, timeout, maxEventSize)", key)
		}
	}
	return opts, nil
}

// client is what the setup function gets: on(name, handler) and close().
type client struct {
	handlers map[string][]sobek.Callable
	closed   bool
	cancel   context.CancelFunc
}

func (c *client) emit(rt *sobek.Runtime, name string, value map[string]any) error {
	for _, handler := range c.handlers[name] {
		if _, err := handler(sobek.Undefined(), rt.ToValue(value)); err != nil {
			return err
		}
	}
	return nil
}

func (mi *instance) open(url string, params sobek.Value, setup sobek.Value) (map[string]any, error) {
	rt := mi.vu.Runtime()
	state := mi.vu.State()
	if state == nil {
		return nil, errors.New("sse.open can only be called from a VU, not from the init context")
	}
	opts, err := parseOptions(rt, params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(mi.vu.Context())
	defer cancel()
	if opts.timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, opts.timeout)
		defer cancelTimeout()
	}

	c := &client{handlers: map[string][]sobek.Callable{}, cancel: cancel}
	handle := rt.NewObject()
	if err := handle.Set("on", func(name string, handler sobek.Value) error {
		callable, ok := sobek.AssertFunction(handler)
		if !ok {
			return fmt.Errorf("client.on(%q): the handler is not a function", name)
		}
		switch name {
		case "open", "event", "error":
		default:
			return fmt.Errorf("client.on: unknown event %q (open, event, error)", name)
		}
		c.handlers[name] = append(c.handlers[name], callable)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := handle.Set("close", func() {
		c.closed = true
		c.cancel()
	}); err != nil {
		return nil, err
	}
	if setup != nil && !sobek.IsUndefined(setup) {
		callable, ok := sobek.AssertFunction(setup)
		if !ok {
			return nil, errors.New("sse.open: the third argument must be a function")
		}
		if _, err := callable(sobek.Undefined(), handle); err != nil {
			return nil, err
		}
	}

	result := map[string]any{"status": 0, "error": "", "timedOut": false, "events": 0, "body": ""}
	var body io.Reader
	if opts.body != "" {
		body = strings.NewReader(opts.body)
	}
	request, err := http.NewRequestWithContext(ctx, opts.method, url, body)
	if err != nil {
		return nil, fmt.Errorf("sse.open: %w", err)
	}
	request.Header.Set("Accept", "text/event-stream")
	request.Header.Set("Cache-Control", "no-cache")
	for name, value := range opts.headers {
		request.Header.Set(name, value)
	}
	response, err := (&http.Client{Transport: state.Transport}).Do(request)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			result["timedOut"] = true
		}
		result["error"] = err.Error()
		return result, c.emit(rt, "error", map[string]any{"error": err.Error(), "status": 0})
	}
	defer response.Body.Close()
	result["status"] = response.StatusCode
	if response.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(response.Body, 64*1024))
		result["body"] = string(text)
		result["error"] = fmt.Sprintf("HTTP %d", response.StatusCode)
		return result, c.emit(rt, "error", map[string]any{"error": result["error"], "status": response.StatusCode})
	}
	if err := c.emit(rt, "open", map[string]any{"status": response.StatusCode}); err != nil {
		return result, err
	}

	// The stream is read on its own goroutine; handlers run here, on the VU.
	events := make(chan gosse.Event)
	ended := make(chan error, 1)
	go func() {
		config := &gosse.ReadConfig{MaxEventSize: opts.maxEventSize}
		for event, err := range gosse.Read(response.Body, config) {
			if err != nil {
				ended <- err
				return
			}
			select {
			case events <- event:
			case <-ctx.Done():
				ended <- ctx.Err()
				return
			}
		}
		ended <- io.EOF
	}()
	count := 0
	for !c.closed {
		select {
		case event := <-events:
			count++
			result["events"] = count
			name := event.Type
			if name == "" {
				name = "message"
			}
			if err := c.emit(rt, "event", map[string]any{"id": event.LastEventID, "name": name, "data": event.Data}); err != nil {
				return result, err
			}
		case err := <-ended:
			switch {
			case c.closed, errors.Is(err, io.EOF):
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				result["timedOut"] = true
			case ctx.Err() != nil:
				// the test is stopping
			default:
				result["error"] = err.Error()
				return result, c.emit(rt, "error", map[string]any{"error": err.Error(), "status": response.StatusCode})
			}
			return result, nil
		}
	}
	return result, nil
}
