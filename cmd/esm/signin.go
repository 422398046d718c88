package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/esmhq/esm/web"
)

// The portal's production sign-in (esm api): OpenID Connect against the identity provider whose
// tokens the API accepts (web/oidc.go). It is on when any ESM_OIDC_* variable is set; then every
// variable it needs must be right, or esm api does not start, and the error names the variable.
//
//	ESM_OIDC_ISSUER         the provider's issuer URL (default: ESM_JWT_ISSUER, when that is a URL)
//	ESM_OIDC_CLIENT_ID      the portal's client at the provider (required)
//	ESM_OIDC_CLIENT_SECRET  its secret (empty for a public client: PKCE alone)
//	ESM_PORTAL_URL          the public base URL, https (http only on localhost): the redirect URI
//	                        to register is <it>/portal/auth/callback
//	ESM_SESSION_SECRET      keys the portal's cookies: at least 32 bytes, the same on every replica

// minSessionSecret is ESM_SESSION_SECRET's least length, in bytes.
const minSessionSecret = 32

// portalOIDCConfig reads and checks the sign-in's variables: nil when no ESM_OIDC_* is set (the
// portal then says that sign-in is not configured).
func portalOIDCConfig(getenv func(string) string) (*web.OIDCConfig, []byte, error) {
	if getenv("ESM_OIDC_ISSUER") == "" && getenv("ESM_OIDC_CLIENT_ID") == "" && getenv("ESM_OIDC_CLIENT_SECRET") == "" {
		return nil, nil, nil
	}
	issuer := getenv("ESM_OIDC_ISSUER")
	if issuer == "" && httpURL(getenv("ESM_JWT_ISSUER")) {
		issuer = getenv("ESM_JWT_ISSUER")
	}
	switch {
	case issuer == "":
		return nil, nil, errors.New("portal sign-in: set ESM_OIDC_ISSUER to the identity provider's issuer URL (ESM_JWT_ISSUER is no URL to default to)")
	case !httpURL(issuer):
		return nil, nil, fmt.Errorf("portal sign-in: ESM_OIDC_ISSUER %q is not an http(s) URL", issuer)
	case getenv("ESM_OIDC_CLIENT_ID") == "":
		return nil, nil, errors.New("portal sign-in: set ESM_OIDC_CLIENT_ID to the portal's client id at the identity provider")
	}
	portal := getenv("ESM_PORTAL_URL")
	u, err := url.Parse(portal)
	switch {
	case portal == "":
		return nil, nil, errors.New("portal sign-in: set ESM_PORTAL_URL to the portal's public base URL (https://esm.example.com): the redirect URI is <it>/portal/auth/callback")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, nil, fmt.Errorf("portal sign-in: ESM_PORTAL_URL %q is not an absolute https URL", portal)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return nil, nil, fmt.Errorf("portal sign-in: ESM_PORTAL_URL %q must be https (the portal's cookies are Secure; http only on localhost)", portal)
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return nil, nil, fmt.Errorf("portal sign-in: ESM_PORTAL_URL %q must be a scheme and host only (the portal is served under /portal)", portal)
	}
	secret := getenv("ESM_SESSION_SECRET")
	if len(secret) < minSessionSecret {
		return nil, nil, fmt.Errorf("portal sign-in: set ESM_SESSION_SECRET to at least %d random bytes (it keys the portal's cookies; has %d)", minSessionSecret, len(secret))
	}
	return &web.OIDCConfig{Issuer: issuer, ClientID: getenv("ESM_OIDC_CLIENT_ID"), ClientSecret: getenv("ESM_OIDC_CLIENT_SECRET"),
		PortalURL: u.Scheme + "://" + u.Host}, []byte(secret), nil
}

// portalSignIn is portalOIDCConfig, then the provider's discovery (15 seconds at most): nil
// when sign-in is not configured.
func portalSignIn(ctx context.Context, getenv func(string) string) (*web.OIDC, []byte, error) {
	cfg, secret, err := portalOIDCConfig(getenv)
	if err != nil || cfg == nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	o, err := web.DiscoverOIDC(ctx, *cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("portal sign-in: ESM_OIDC_ISSUER: %w", err)
	}
	return o, secret, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
