package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/esmhq/esm/internal/devidp"
	"github.com/esmhq/esm/store"
)

// idpCmd serves the development identity provider (internal/devidp) over the directory's people:
// a stand-in for the company's provider on a developer's machine and in tests, never in
// production. Flags default from the environment:
//
//	-addr       ESM_IDP_ADDR (127.0.0.1:9998)        where it listens
//	-issuer     ESM_IDP_ISSUER (http://<addr>)        its public URL, the tokens' iss
//	-audience   ESM_JWT_AUDIENCE (esm)                put in every token's aud, for the API
//	-ui         ESM_IDP_UI_URL                        the Temporal UI's base URL: registers the
//	            ESM_IDP_UI_CLIENT_ID (temporal-ui)    UI's client, redirect <ui>/auth/sso/callback
//	            ESM_IDP_UI_CLIENT_SECRET (required with -ui, at least 16 bytes)
//	-portal     ESM_PORTAL_URL                        the portal's base URL: registers the portal's
//	            ESM_OIDC_CLIENT_ID (esm-portal)       client, redirect <portal>/portal/auth/callback;
//	                                                  several, comma-separated: one redirect each
//	                                                  (the topology's API replicas)
//	            ESM_OIDC_CLIENT_SECRET (required with -portal, at least 16 bytes)
//
// Each person signs in with their person id as user name and as password.
func idpCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("idp", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", env("ESM_IDP_ADDR", "127.0.0.1:9998"), "listen address")
	issuer := fs.String("issuer", env("ESM_IDP_ISSUER", ""), "public base URL (default http://<addr>)")
	audience := fs.String("audience", env("ESM_JWT_AUDIENCE", "esm"), "audience put in every token, beside the client id")
	ui := fs.String("ui", env("ESM_IDP_UI_URL", ""), "the Temporal UI's base URL (registers its client)")
	uiID := fs.String("ui-client-id", env("ESM_IDP_UI_CLIENT_ID", "temporal-ui"), "the Temporal UI's client id")
	uiSecret := fs.String("ui-client-secret", env("ESM_IDP_UI_CLIENT_SECRET", ""), "the Temporal UI's client secret")
	portal := fs.String("portal", env("ESM_PORTAL_URL", ""), "the portal's base URL (registers its client)")
	portalID := fs.String("portal-client-id", env("ESM_OIDC_CLIENT_ID", "esm-portal"), "the portal's client id")
	portalSecret := fs.String("portal-client-secret", env("ESM_OIDC_CLIENT_SECRET", ""), "the portal's client secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	clients, err := idpClients(*ui, *uiID, *uiSecret, *portal, *portalID, *portalSecret)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("idp: listen on %s: %w", *addr, err)
	}
	defer ln.Close()
	iss := *issuer
	if iss == "" {
		iss = "http://" + ln.Addr().String()
	}
	iss = strings.TrimSuffix(iss, "/")
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		h, err := devidp.New(devidp.Config{Issuer: iss, Audiences: []string{*audience}, Clients: clients, Logger: cfg.Log,
			People: func(ctx context.Context, id string) (devidp.Person, bool, error) {
				p, err := s.Person(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					return devidp.Person{}, false, nil
				}
				return devidp.Person{ID: p.ID, Name: p.Name, Email: p.Email}, err == nil, err
			}})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "ESM development identity provider (not for production) at %s\n", iss)
		fmt.Fprintf(out, "  API:    ESM_JWKS=%s/keys ESM_JWT_ISSUER=%s ESM_JWT_AUDIENCE=%s\n", iss, iss, *audience)
		for _, c := range clients {
			fmt.Fprintf(out, "  client: %s -> %s\n", c.ID, strings.Join(c.RedirectURIs, " "))
		}
		fmt.Fprintln(out, "  sign in with a person id as user name and as password")
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}

// minIDPClientSecret is the least length, in bytes, of a client secret the development
// identity provider registers: even on a developer's machine the provider signs tokens the API
// accepts, and a secret one can guess lets anyone exchange a stolen code for them.
const minIDPClientSecret = 16

// idpClients registers the Temporal UI's and the portal's clients from their base URLs (the
// portal's: one or more, comma-separated, one redirect URI each); a client without its secret,
// or with one shorter than minIDPClientSecret bytes, is refused, naming the flag and variable.
func idpClients(ui, uiID, uiSecret, portal, portalID, portalSecret string) ([]devidp.Client, error) {
	var cs []devidp.Client
	if ui != "" {
		if uiSecret == "" {
			return nil, errors.New("idp: -ui needs the UI client's secret (-ui-client-secret or ESM_IDP_UI_CLIENT_SECRET)")
		}
		if len(uiSecret) < minIDPClientSecret {
			return nil, fmt.Errorf("idp: the UI client's secret (-ui-client-secret or ESM_IDP_UI_CLIENT_SECRET) must be at least %d bytes (has %d)", minIDPClientSecret, len(uiSecret))
		}
		cs = append(cs, devidp.Client{ID: uiID, Secret: uiSecret, RedirectURIs: []string{strings.TrimSuffix(ui, "/") + "/auth/sso/callback"}})
	}
	if portal != "" {
		if portalSecret == "" {
			return nil, errors.New("idp: -portal needs the portal client's secret (-portal-client-secret or ESM_OIDC_CLIENT_SECRET)")
		}
		if len(portalSecret) < minIDPClientSecret {
			return nil, fmt.Errorf("idp: the portal client's secret (-portal-client-secret or ESM_OIDC_CLIENT_SECRET) must be at least %d bytes (has %d)", minIDPClientSecret, len(portalSecret))
		}
		c := devidp.Client{ID: portalID, Secret: portalSecret}
		for _, p := range strings.Split(portal, ",") {
			if p = strings.TrimSpace(p); p != "" {
				base := strings.TrimSuffix(strings.TrimSuffix(p, "/"), "/portal")
				c.RedirectURIs = append(c.RedirectURIs, base+"/portal/auth/callback")
			}
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil, errors.New("idp: register a client: -ui URL (the Temporal UI) and/or -portal URL (ESM's portal)")
	}
	return cs, nil
}
