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
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/temporal"
)

// Fulfilment makes the HTTP calls of automated tasks and their compensations.
type Fulfilment struct {
	Client *http.Client
	// Store and Files keep the files an automation's answer carries (fulfilment_files.go); nil:
	// an answer with files fails the task (ErrBadAnswer).
	Store *store.Store
	Files *files.Store
}

// CallInput is one rendered call and its idempotency key, the same on every retry of the same
// task (REQ-000042.accounts) so the receiver applies it once.
type CallInput struct {
	Call           catalog.Rendered
	IdempotencyKey string
	// Files, when set (requests of revision 4 on), makes the files of the answer (a top-level
	// "files" list of {name, kind, content_base64}) attachments of Files.Request that are
	// outputs of Files.Task: stored encrypted, and named in the outputs by id, never by bytes.
	// Nil: "files" stays in the outputs as it came (older requests, compensations).
	Files *CallFiles `json:",omitempty"`
}

// CallResult is the answer: the JSON object the endpoint returned (a non-object value is under
// "result"); with CallInput.Files, its "files" list is what the files became:
// [{id, name, kind, content_type, size, sha256}].
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
	limit := int64(maxAnswer)
	if in.Files != nil {
		limit = maxAnswerWithFiles
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
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
		if list, ok := answerFiles(m); ok && in.Files != nil {
			if err := f.takeFiles(ctx, in, m, list); err != nil {
				return out, err
			}
		}
		if in.Files != nil && len(raw) > maxAnswer {
			// What goes into the history stays as small as before files were taken.
			if b, _ := json.Marshal(out.Outputs); len(b) > maxAnswer {
				return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s answered outputs larger than %d bytes (files aside)", in.Call.URL, maxAnswer), ErrBadAnswer, nil)
			}
		}
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
