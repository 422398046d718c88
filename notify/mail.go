package notify

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"
)

//go:embed templates
var templates embed.FS

var (
	textMail = texttemplate.Must(texttemplate.ParseFS(templates, "templates/mail.txt"))
	htmlMail = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/mail.html"))
)

// Fact is one labelled line of a mail: a task's output, a reason.
type Fact struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Message is one notification to one recipient, as the notify activity hands it to the Mailer.
type Message struct {
	// ID is the notification's stable id (REQ-000042.7.request.resolved): the same on every
	// retry, so the Message-ID is too.
	ID string
	// Request is the request the notification is about (empty for a service's lifecycle): its
	// mails thread under one id.
	Request string
	// Thread names the thread when there is no request (a service's lifecycle).
	Thread  string
	Name    string // the recipient's name ("" for a group's mailbox)
	Address string
	Subject string
	Text    string
	Facts   []Fact
	// Why says why the recipient gets the mail ("you approve step Manager of REQ-000042").
	Why string
	At  time.Time
	// Actions are links the recipient may act through (an approval's Approve and Reject),
	// under the portal (PortalURL); none without a portal URL.
	Actions []Action
}

// Action is a link in a mail that acts once it is confirmed: Path is under the portal's base
// URL ("/link/<token>"), Kind names it for the reader's eye (approve, reject), Until is when it
// stops working.
type Action struct {
	Label string
	Kind  string
	Path  string
	Until time.Time
}

// actionLink is an Action as a mail shows it.
type actionLink struct {
	Label, Kind, URL, Until string
}

// Mailer sends messages through one SMTP server.
type Mailer struct {
	Server SMTP
	From   *mail.Address
	// PortalURL is the portal's base (http://localhost:8080/portal): a request's mail links to
	// PortalURL/requests/<id>. Empty: no link.
	PortalURL string
	// Timeout bounds one connection (default 20s).
	Timeout time.Duration
}

// NewMailer checks the configuration: the server from ESM_SMTP_URL, the sender from
// ESM_MAIL_FROM, the portal's base URL.
func NewMailer(smtpURL, from, portalURL string) (*Mailer, error) {
	srv, err := ParseSMTPURL(smtpURL)
	if err != nil {
		return nil, fmt.Errorf("ESM_SMTP_URL: %w", err)
	}
	addr, err := ParseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("ESM_MAIL_FROM: %w", err)
	}
	return &Mailer{Server: srv, From: addr, PortalURL: strings.TrimRight(portalURL, "/")}, nil
}

// Domain is the right part of the Message-IDs: the sender address's domain.
func (m *Mailer) Domain() string {
	if at := strings.LastIndexByte(m.From.Address, '@'); at >= 0 {
		return m.From.Address[at+1:]
	}
	return "esm.local"
}

// MessageID is the Message-ID of a notification (without the angle brackets).
func (m *Mailer) MessageID(notification string) string {
	return notification + "@" + m.Domain()
}

// ThreadID is the id every mail of one request refers to (In-Reply-To, References), so that
// mail readers show one request's mails as one conversation.
func (m *Mailer) ThreadID(request string) string {
	return request + "@" + m.Domain()
}

// Link is the portal's page of what a mail is about ("" without a portal URL or a request): a
// request's page (PortalURL/requests/<id>), or, for a service's lifecycle (whose notifications
// name its workflow, service/<key>, as their request), the service's lifecycle page
// (PortalURL/services/<key>/lifecycle).
func (m *Mailer) Link(request string) string {
	link, _ := m.link(request)
	return link
}

// link is Link and the words of the mail's link to it.
func (m *Mailer) link(request string) (link, text string) {
	if m.PortalURL == "" || request == "" {
		return "", ""
	}
	if key, ok := strings.CutPrefix(request, "service/"); ok {
		return m.PortalURL + "/services/" + url.PathEscape(key) + "/lifecycle", "Open the service " + key + " in the portal"
	}
	return m.PortalURL + "/requests/" + url.PathEscape(request), "Open " + request + " in the portal"
}

// Build renders a message: text and HTML bodies from the embedded templates, a Message-ID
// stable per notification, In-Reply-To and References naming the request's thread.
func (m *Mailer) Build(msg Message) (*gomail.Msg, error) {
	out := gomail.NewMsg()
	if err := out.FromFormat(m.From.Name, m.From.Address); err != nil {
		return nil, fmt.Errorf("from %s: %w", m.From, err)
	}
	if err := out.AddToFormat(msg.Name, msg.Address); err != nil {
		return nil, temporalBadAddress(msg.Address, err)
	}
	out.Subject(msg.Subject)
	out.SetMessageIDWithValue(m.MessageID(msg.ID))
	thread := msg.Thread
	if msg.Request != "" {
		thread = msg.Request
	}
	if thread != "" {
		ref := "<" + m.ThreadID(thread) + ">"
		out.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, ref)
		out.SetGenHeaderPreformatted(gomail.HeaderReferences, ref)
	}
	if !msg.At.IsZero() {
		out.SetDateWithValue(msg.At)
	} else {
		out.SetDate()
	}
	out.SetGenHeader("X-ESM-Notification", msg.ID)
	out.SetBulk() // no auto-replies from out-of-office robots
	greeting := "Hello,"
	if msg.Name != "" {
		greeting = "Hello " + msg.Name + ","
	}
	data := struct {
		Message
		Greeting, Link, LinkText string
		Actions                  []actionLink
	}{Message: msg, Greeting: greeting}
	data.Link, data.LinkText = m.link(msg.Request)
	if m.PortalURL != "" {
		for _, a := range msg.Actions {
			data.Actions = append(data.Actions, actionLink{Label: a.Label, Kind: a.Kind, URL: m.PortalURL + a.Path,
				Until: a.Until.UTC().Format("2 Jan 2006 15:04 UTC")})
		}
	}
	if data.Why == "" {
		data.Why = "the service desk has news for you"
	}
	var text, html bytes.Buffer
	if err := textMail.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("text body: %w", err)
	}
	if err := htmlMail.Execute(&html, data); err != nil {
		return nil, fmt.Errorf("html body: %w", err)
	}
	out.SetBodyString(gomail.TypeTextPlain, text.String())
	out.AddAlternativeString(gomail.TypeTextHTML, html.String())
	return out, nil
}

// BadAddressError is an address the mail library refuses: sending again will not help.
type BadAddressError struct {
	Address string
	Err     error
}

func (e *BadAddressError) Error() string { return fmt.Sprintf("address %q: %v", e.Address, e.Err) }

func temporalBadAddress(addr string, err error) error {
	return &BadAddressError{Address: addr, Err: err}
}

// Send delivers one message. An error is the server's (down, refused): the caller retries.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	out, err := m.Build(msg)
	if err != nil {
		return err
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(m.Server.Port), gomail.WithTimeout(timeout), gomail.WithHELO(m.Domain())}
	switch m.Server.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.Server.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.Server.Username), gomail.WithPassword(m.Server.Password))
	}
	c, err := gomail.NewClient(m.Server.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", m.Server, err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("send %s to %s: dial %s: %w", msg.ID, msg.Address, m.Server, err)
	}
	if err := c.SendWithSMTPClient(conn, out); err != nil {
		_ = c.CloseWithSMTPClient(conn)
		return fmt.Errorf("send %s to %s through %s: %w", msg.ID, msg.Address, m.Server, err)
	}
	// The server accepted the message (its answer to DATA): it is sent. A failing QUIT after
	// it is no reason to send it again.
	_ = c.CloseWithSMTPClient(conn)
	return nil
}
