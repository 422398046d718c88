// Package mailtest runs a real SMTP server in the test process (github.com/emersion/go-smtp)
// that keeps every message it accepts, for tests of the mail channel. It can be stopped and
// started again on the same port, as a mail server that goes down and comes back.
package mailtest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted for one recipient.
type Message struct {
	From   string
	To     string
	Header mail.Header
	// Text and HTML are the decoded bodies of the text/plain and text/html parts.
	Text, HTML string
	Raw        []byte
}

// Server is an SMTP server on 127.0.0.1 keeping the messages it accepts.
type Server struct {
	t    testing.TB
	mu   sync.Mutex
	msgs []Message
	addr string
	srv  *smtp.Server
	ln   net.Listener
	// arrived is signalled on every message.
	arrived chan struct{}
}

// Start starts a server on a free port; it stops with the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, arrived: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the ESM_SMTP_URL of the server (no TLS, no authentication).
func (s *Server) URL() string { return "smtp://" + s.addr + "?starttls=none" }

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "mailtest.local"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxRecipients = 50
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop stops the server (a mail server that is down: connections are refused).
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close() // Close alone misses a listener Serve has not taken yet
	}
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after Close
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("mailtest: restart on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Messages returns every message accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until cond holds of the messages, or fails t after timeout.
func (s *Server) Wait(t testing.TB, timeout time.Duration, what string, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		msgs := s.Messages()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-s.arrived:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mailtest: no %s within %s; the server has %d messages:\n%s", what, timeout, len(msgs), Summary(msgs))
			return nil
		}
	}
}

// Summary lists messages one a line: recipient, subject, Message-ID.
func Summary(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("  " + m.To + "  " + m.Header.Get("Subject") + "  " + m.Header.Get("Message-Id") + "\n")
	}
	return b.String()
}

func (s *Server) keep(m Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.New("mailtest: not a message: " + err.Error())
	}
	text, html := parts(msg)
	for _, to := range x.to {
		x.s.keep(Message{From: x.from, To: to, Header: msg.Header, Text: text, HTML: html, Raw: raw})
	}
	return nil
}
