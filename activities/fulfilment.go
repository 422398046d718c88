package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
)

// Fulfilment makes the HTTP calls of automated tasks and their compensations.
type Fulfilment struct {
	Client *http.Client
}

// CallInput is one rendered call and its idempotency key, the same on every retry of the same
// task (REQ-000042.accounts) so the receiver applies it once.
type CallInput struct {
	Call           catalog.Rendered
	IdempotencyKey string
}

// CallResult is the answer: the JSON object the endpoint returned (a non-object value is under
// "result").
type CallResult struct {
	Status  int
	Outputs map[string]any
}

// ErrHTTPRefused is the application error type of a 4xx answer: the call is wrong and will stay
// wrong, so it is not retried.
const ErrHTTPRefused = "HTTPRefused"

// maxAnswer bounds what is read of an answer.
const maxAnswer = 1 << 20

// Call makes the HTTP call. 2xx: the answer becomes the outputs. 4xx: a non-retryable error.
// Anything else (5xx, a network error, a timeout) is retried by the activity's retry policy.
func (f *Fulfilment) Call(ctx context.Context, in CallInput) (CallResult, error) {
	var body io.Reader
	if in.Call.Body != nil {
		b, err := json.Marshal(in.Call.Body)
		if err != nil {
			return CallResult{}, temporal.NewNonRetryableApplicationError("the body is not JSON", ErrHTTPRefused, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, in.Call.Method, in.Call.URL, body)
	if err != nil {
		return CallResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("bad request: %v", err), ErrHTTPRefused, err)
	}
	for k, v := range in.Call.Headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", in.IdempotencyKey)
	client := f.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return CallResult{}, fmt.Errorf("%s %s: %w", in.Call.Method, in.Call.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return CallResult{}, fmt.Errorf("read answer of %s: %w", in.Call.URL, err)
	}
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return CallResult{Status: resp.StatusCode}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s %s answered %d: %s", in.Call.Method, in.Call.URL, resp.StatusCode, snippet(raw)), ErrHTTPRefused, nil)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return CallResult{Status: resp.StatusCode}, fmt.Errorf("%s %s answered %d: %s", in.Call.Method, in.Call.URL, resp.StatusCode, snippet(raw))
	}
	out := CallResult{Status: resp.StatusCode, Outputs: map[string]any{}}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s answered with something that is not JSON: %s", in.Call.URL, snippet(raw)), ErrHTTPRefused, err)
	}
	if m, ok := v.(map[string]any); ok {
		out.Outputs = m
	} else {
		out.Outputs["result"] = v
	}
	return out, nil
}

func snippet(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
