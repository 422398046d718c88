// Package devidp is a development OpenID Connect provider: a stand-in for the company's identity
// provider on a developer's machine and in tests, never in production. It serves the people of
// ESM's directory as its users (each signs in with their person id as user name and password),
// issues ID and access tokens as RS256 JWTs whose subject is the person id and whose audience
// holds the client's id and the audiences ESM's API accepts (ESM_JWT_AUDIENCE), and publishes
// its signing key at <issuer>/keys, so that ESM's API (ESM_JWKS=<issuer>/keys), the portal's
// sign-in (ESM_OIDC_*) and the Temporal UI's sign-in can all use it.
//
// The protocol is github.com/zitadel/oidc/v3's op package; the in-memory bookkeeping of
// authorization requests, codes and tokens is its example storage, reached only through the
// op.Storage methods the code and refresh flows need: the example's client-credentials user,
// its JWT-profile service key and its device flow are not offered. The signing key is made
// at start, so tokens do not survive a restart of the provider (ESM's JWKS refetches the keys
// when a token names a key it does not know).
package devidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Person is one of the provider's users: ID is the person id in ESM's directory (the tokens'
// sub, the user name and the password).
type Person struct {
	ID    string
	Name  string
	Email string
}

// Directory finds a person by id; ok false when there is none (the sign-in is refused).
type Directory func(ctx context.Context, id string) (p Person, ok bool, err error)

// Client is an application registered at the provider: a confidential web client (its secret
// sent with client_secret_basic or client_secret_post) that may redirect only to RedirectURIs.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
}

// Config configures a provider.
type Config struct {
	// Issuer is the provider's public base URL, http or https, with no trailing slash; it is the
	// tokens' iss (ESM_JWT_ISSUER, ESM_OIDC_ISSUER).
	Issuer string
	// Audiences are put in every token's aud beside the client's id: ESM_JWT_AUDIENCE, so that
	// the API accepts the access tokens the provider gives the Temporal UI.
	Audiences []string
	Clients   []Client
	People    Directory
	Logger    *slog.Logger
}

// LoginPath is where the provider's login form is served; its POST takes the form fields id
// (the authorization request), username and password.
const LoginPath = "/login/username"

// New builds the provider's HTTP handler: discovery at /.well-known/openid-configuration,
// /authorize, /oauth/token, /userinfo, /keys, /end_session and the login form. It answers an
// error when the configuration is not usable (no issuer, no client, a client without secret or
// redirect URI).
func New(cfg Config) (http.Handler, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("devidp: the issuer URL is required")
	}
	if cfg.People == nil {
		return nil, errors.New("devidp: a directory of people is required")
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("devidp: register at least one client")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	clients := map[string]*storage.Client{}
	for _, c := range cfg.Clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("devidp: client %q needs an id, a secret and a redirect URI", c.ID)
		}
		clients[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
	}
	users := &people{find: cfg.People, log: log}
	s := &store{inner: storage.NewStorageWithClients(users, clients), audiences: cfg.Audiences}

	var key [32]byte // encrypts the provider's opaque codes; new at every start
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
	}, s, op.StaticIssuer(cfg.Issuer), op.WithAllowInsecure(), op.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	r := chi.NewRouter()
	l := &login{check: s.inner.CheckUsernamePassword, callback: op.AuthCallbackURL(provider)}
	intercept := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	r.Get(LoginPath, l.form)
	r.Post(LoginPath, intercept.HandlerFunc(l.submit))
	r.Get("/logged-out", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("signed out of the ESM development identity provider\n"))
	})
	r.Mount("/", provider)
	return r, nil
}

// people adapts the directory to the example storage's users: the password is the person id.
type people struct {
	find Directory
	log  *slog.Logger
}

func (p *people) GetUserByID(id string) *storage.User {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	person, ok, err := p.find(ctx, id)
	if err != nil {
		p.log.Error("devidp: read the directory", "person", id, "error", err)
		return nil
	}
	if !ok {
		return nil
	}
	return &storage.User{ID: person.ID, Username: person.ID, Password: person.ID, FirstName: person.Name,
		Email: person.Email, EmailVerified: person.Email != "", PreferredLanguage: language.English}
}

func (p *people) GetUserByUsername(name string) *storage.User { return p.GetUserByID(name) }

// ExampleClientID names the example's JWT-profile service user; store refuses that grant.
func (p *people) ExampleClientID() string { return "" }

// login is the provider's form: user name and password (the person id, both).
type login struct {
	check    func(username, password, id string) error
	callback func(context.Context, string) string
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ESM development sign-in</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}label{display:block;margin:.8rem 0}
input{display:block;width:100%;padding:.4rem}.warn{background:#fff3cd;padding:.6rem}.err{color:#b00020}</style></head>
<body><h1>ESM development sign-in</h1>
<p class="warn">A stand-in for your company's identity provider, for development and tests only.
Sign in with a person id from ESM's directory as user name and as password.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<label>User name (person id)<input name="username" id="username" autocomplete="username" autofocus></label>
<label>Password (the person id again)<input name="password" id="password" type="password" autocomplete="current-password"></label>
{{with .Error}}<p class="err">{{.}}</p>{{end}}
<button type="submit" id="sign-in">Sign in</button>
</form></body></html>`))

func (l *login) render(w http.ResponseWriter, id, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if msg != "" {
		w.WriteHeader(http.StatusUnauthorized)
	}
	_ = loginPage.Execute(w, struct{ Action, ID, Error string }{LoginPath, id, msg})
}

func (l *login) form(w http.ResponseWriter, r *http.Request) {
	l.render(w, r.URL.Query().Get("authRequestID"), "")
}

func (l *login) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the sign-in form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := r.FormValue("id")
	if err := l.check(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		l.render(w, id, "Unknown person id or wrong password.")
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

// store is the op.Storage of the provider: the example storage's code and refresh flows, JWT
// access tokens for every client, and the API's audiences in every token.
type store struct {
	inner     *storage.Storage
	audiences []string
}

// withAudience is an authorization request whose tokens carry the API's audiences too.
type withAudience struct {
	*storage.AuthRequest
	extra []string
}

func (a withAudience) GetAudience() []string {
	aud := a.AuthRequest.GetAudience()
	for _, x := range a.extra {
		if !slices.Contains(aud, x) {
			aud = append(aud, x)
		}
	}
	return aud
}

func (s *store) wrap(r op.AuthRequest, err error) (op.AuthRequest, error) {
	if ar, ok := r.(*storage.AuthRequest); ok && err == nil {
		return withAudience{ar, s.audiences}, nil
	}
	return r, err
}

// unwrap hands the example storage the request type it records tokens for.
func unwrap(r op.TokenRequest) op.TokenRequest {
	if w, ok := r.(withAudience); ok {
		return w.AuthRequest
	}
	return r
}

func (s *store) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	return s.wrap(s.inner.CreateAuthRequest(ctx, r, userID))
}
func (s *store) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.wrap(s.inner.AuthRequestByID(ctx, id))
}
func (s *store) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return s.wrap(s.inner.AuthRequestByCode(ctx, code))
}
func (s *store) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.inner.SaveAuthCode(ctx, id, code)
}
func (s *store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.inner.DeleteAuthRequest(ctx, id)
}
func (s *store) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	if _, ok := r.(withAudience); !ok {
		if _, ok := r.(op.RefreshTokenRequest); !ok {
			return "", time.Time{}, errors.New("the development provider issues tokens to signed-in people only")
		}
	}
	return s.inner.CreateAccessToken(ctx, unwrap(r))
}
func (s *store) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	if _, ok := r.(op.TokenExchangeRequest); ok {
		return "", "", time.Time{}, errors.New("token exchange is not offered")
	}
	return s.inner.CreateAccessAndRefreshTokens(ctx, unwrap(r), current)
}
func (s *store) TokenRequestByRefreshToken(ctx context.Context, t string) (op.RefreshTokenRequest, error) {
	return s.inner.TokenRequestByRefreshToken(ctx, t)
}
func (s *store) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.inner.TerminateSession(ctx, userID, clientID)
}
func (s *store) RevokeToken(ctx context.Context, t, userID, clientID string) *oidc.Error {
	return s.inner.RevokeToken(ctx, t, userID, clientID)
}
func (s *store) GetRefreshTokenInfo(ctx context.Context, clientID, t string) (string, string, error) {
	return s.inner.GetRefreshTokenInfo(ctx, clientID, t)
}
func (s *store) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.inner.SigningKey(ctx)
}
func (s *store) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.inner.SignatureAlgorithms(ctx)
}
func (s *store) KeySet(ctx context.Context) ([]op.Key, error) { return s.inner.KeySet(ctx) }

// GetClientByClientID answers the registered client, its access tokens JWTs.
func (s *store) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.inner.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}
func (s *store) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if _, err := s.inner.GetClientByClientID(ctx, id); err != nil {
		return err // the example storage also knows a client-credentials user; not here
	}
	return s.inner.AuthorizeClientIDSecret(ctx, id, secret)
}
func (s *store) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}
func (s *store) SetUserinfoFromRequest(ctx context.Context, u *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.inner.SetUserinfoFromRequest(ctx, u, r, scopes)
}
func (s *store) SetUserinfoFromToken(ctx context.Context, u *oidc.UserInfo, tokenID, subject, origin string) error {
	return s.inner.SetUserinfoFromToken(ctx, u, tokenID, subject, origin)
}
func (s *store) SetIntrospectionFromToken(ctx context.Context, i *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return s.inner.SetIntrospectionFromToken(ctx, i, tokenID, subject, clientID)
}
func (s *store) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses the JWT-profile grant: no service keys here.
func (s *store) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}
func (s *store) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}
func (s *store) Health(ctx context.Context) error { return s.inner.Health(ctx) }

type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
