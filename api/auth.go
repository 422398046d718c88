package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// Token claims: issuer and audience are fixed for HS256 development tokens.
const (
	TokenIssuer   = "esm"
	TokenAudience = "esm"
)

// IssueToken signs an HS256 bearer token for a person id, valid for ttl.
func IssueToken(secret []byte, personID string, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) < 16 {
		return "", errors.New("the JWT secret must be at least 16 bytes")
	}
	claims := jwt.RegisteredClaims{
		Issuer:    TokenIssuer,
		Subject:   personID,
		Audience:  jwt.ClaimStrings{TokenAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// verifyToken checks signature, algorithm, issuer, audience, expiry and not-before, and returns
// the subject. The issuer and audience depend on the key family: an HS256 token is ESM's own
// development token (IssueToken: iss and aud TokenIssuer and TokenAudience, whatever
// ESM_JWT_ISSUER says), an RS256 or ES256 token is the identity provider's (Config.Issuer and
// Config.Audience). So an API can accept both, as the topology's APIs do (the idp's tokens from
// the Temporal UI and the portal, `esm token`'s from scripts and tests).
func (s *Server) verifyToken(raw string) (string, error) {
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(raw, &claims, s.keyFor,
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	if err != nil {
		return "", err
	}
	iss, aud := s.issuer, s.audience
	if tok.Method.Alg() == jwt.SigningMethodHS256.Alg() {
		iss, aud = TokenIssuer, TokenAudience
	}
	if err := jwt.NewValidator(jwt.WithIssuer(iss), jwt.WithAudience(aud), jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second)).Validate(claims); err != nil {
		return "", err
	}
	if claims.Subject == "" {
		return "", errors.New("the token has no subject")
	}
	return claims.Subject, nil
}

const principalKey = "esm.principal"

// authenticate resolves the bearer token to a person in the directory, or answers 401.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		c.Header("WWW-Authenticate", `Bearer realm="esm"`)
		writeProblem(c, errUnauthorized("send a bearer token: Authorization: Bearer <token> (esm token <person-id> prints one)"))
		return
	}
	sub, err := s.verifyToken(strings.TrimSpace(raw))
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="esm", error="invalid_token"`)
		writeProblem(c, errUnauthorized(fmt.Sprintf("the bearer token is not valid: %v", err)))
		return
	}
	p, err := s.store.Person(c.Request.Context(), sub)
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(c, errUnauthorized(fmt.Sprintf("the token's subject %q is not in the directory", sub)))
		return
	}
	if err != nil {
		s.fail(c, fmt.Errorf("load principal: %w", err))
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// principal is the authenticated caller.
func principal(c *gin.Context) catalog.Person {
	return c.MustGet(principalKey).(catalog.Person)
}
