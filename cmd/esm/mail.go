package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/web"
)

// DefaultMailFrom is the sender when ESM_MAIL_FROM is not set.
const DefaultMailFrom = "ESM Service Desk <esm@esm.localhost>"

// mailer reads ESM_SMTP_URL, ESM_MAIL_FROM and ESM_PORTAL_URL: nil without ESM_SMTP_URL (the
// log notifier stays), an error naming the variable when one is malformed.
func mailer(addr string) (*notify.Mailer, error) {
	raw := os.Getenv("ESM_SMTP_URL")
	if raw == "" {
		return nil, nil
	}
	return notify.NewMailer(raw, env("ESM_MAIL_FROM", DefaultMailFrom), mailPortal(addr))
}

// mailPortal is the portal's base that mails link under: ESM_PORTAL_URL (ESM's public scheme and
// host, as the portal's sign-in reads it) followed by web.Base, or http://<ESM_ADDR>/portal. A
// value that already ends in web.Base is taken as it is, so neither spelling loses /portal.
func mailPortal(addr string) string {
	base := strings.TrimRight(env("ESM_PORTAL_URL", "http://"+localAddr(addr)), "/")
	if strings.HasSuffix(base, web.Base) {
		return base
	}
	return base + web.Base
}

// mailUI is the mail catcher's web UI that esm dev started ("" when none), for the banner.
var mailUI string

// ensureMailpit starts bin/mailpit (make build builds it) on free loopback ports for esm dev,
// unless ESM_SMTP_URL is set already (a real or another server) or there is no bin/mailpit.
// It sets ESM_SMTP_URL to the catcher's SMTP port; the returned func stops it.
func ensureMailpit(ctx context.Context, out io.Writer) (func(), error) {
	if os.Getenv("ESM_SMTP_URL") != "" {
		return func() {}, nil
	}
	bin := env("ESM_MAILPIT_BIN", filepath.Join("bin", "mailpit"))
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(out, "no %s (make build builds it): notifications go to the log\n", bin)
		return func() {}, nil
	}
	smtpAddr, err := freeAddr(env("ESM_MAIL_SMTP_ADDR", ""))
	if err != nil {
		return nil, err
	}
	uiAddr, err := freeAddr(env("ESM_MAIL_UI_ADDR", ""))
	if err != nil {
		return nil, err
	}
	stop, err := startChild(bin, bin, []string{"--smtp", smtpAddr, "--listen", uiAddr, "--database", filepath.Join(".data", "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns"}, "mailpit.log", 5*time.Second)
	if err != nil {
		return nil, err
	}
	up := func() bool {
		resp, err := http.Get("http://" + uiAddr + "/livez")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	if !waitUp(ctx, 20*time.Second, 200*time.Millisecond, up) {
		stop()
		return nil, errors.New("the mail catcher did not come up in 20s: see .data/mailpit.log")
	}
	os.Setenv("ESM_SMTP_URL", "smtp://"+smtpAddr+"?starttls=none")
	mailUI = "http://" + uiAddr
	return stop, nil
}

// freeAddr is addr, or a free port on the loopback interface when addr is empty.
func freeAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
