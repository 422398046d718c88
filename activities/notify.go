package activities

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Notification is one message to some people about one request.
type Notification struct {
	Request string
	To      []string
	Subject string
	Text    string
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

// Notifications is the activity that sends notifications through a Notifier.
type Notifications struct {
	Notifier Notifier
}

// NotifyInput is one notification.
type NotifyInput struct {
	Notification Notification
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
	return NotifyResult{}, nil
}
