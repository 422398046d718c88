package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
)

// Notification is one message to some people about one request.
type Notification struct {
	Request string   `json:"request"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	// Kind names the event (sla.warning, sla.escalation...); Seq numbers the request's
	// notifications in order; At is when the workflow sent it.
	Kind       string    `json:"kind,omitempty"`
	Seq        int       `json:"seq,omitempty"`
	At         time.Time `json:"at"`
	Department string    `json:"department,omitempty"`
}

// Notifier delivers notifications: the log channel now, a webhook channel with the SLA issue.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// LogNotifier writes notifications to a structured log.
type LogNotifier struct {
	Log *slog.Logger
}

// Notify logs the notification.
func (l LogNotifier) Notify(ctx context.Context, n Notification) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "notification", "request", n.Request, "to", strings.Join(n.To, ","), "subject", n.Subject, "text", n.Text)
	return nil
}

// Notifications is the activity that sends notifications through a Notifier, and to the
// department's webhook when there is one.
type Notifications struct {
	Notifier Notifier
	Client   *http.Client
}

// NotifyInput is one notification, and the department webhook to send it to as well, if any.
type NotifyInput struct {
	Notification Notification
	Webhook      *catalog.Webhook
}

// NotifyResult is empty; a notification either went out or the activity is retried.
type NotifyResult struct{}

// Notify sends one notification.
func (n *Notifications) Notify(ctx context.Context, in NotifyInput) (NotifyResult, error) {
	if len(in.Notification.To) == 0 {
		return NotifyResult{}, nil
	}
	if err := n.Notifier.Notify(ctx, in.Notification); err != nil {
		return NotifyResult{}, fmt.Errorf("notify %v: %w", in.Notification.To, err)
	}
	if in.Webhook != nil {
		if err := n.webhook(ctx, *in.Webhook, in.Notification); err != nil {
			return NotifyResult{}, err // retried by the activity's retry policy
		}
	}
	return NotifyResult{}, nil
}

// SignatureHeader carries the HMAC-SHA256 of the body: "sha256=<hex>".
const SignatureHeader = "X-ESM-Signature"

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhook POSTs the notification as JSON, signed with the secret from the environment.
func (n *Notifications) webhook(ctx context.Context, hook catalog.Webhook, note Notification) error {
	secret := os.Getenv(hook.SecretEnv)
	if secret == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook secret %s is not set on the worker", hook.SecretEnv), "WebhookSecretMissing", nil)
	}
	body, err := json.Marshal(note)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad webhook URL: "+err.Error(), "WebhookURL", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign([]byte(secret), body))
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%s.notice.%d", note.Request, note.Seq))
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", hook.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("webhook %s answered %d", hook.URL, resp.StatusCode)
	}
	return nil
}
