package api

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/esmhq/esm/catalog"
	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"
)

// DevUI is the Temporal UI that `esm dev` started beside it, and only `esm dev` sets it (no
// variable does): that UI has no sign-in, so it cannot pass an operator's token to the codec.
// A codec call without a token is let through when its Origin is exactly one of Origins and it
// comes from this machine (a loopback address, not a forwarded header); anything else needs an
// operator's token, as in production.
type DevUI struct {
	// Origins are the addresses the UI is served from ("http://127.0.0.1:8233",
	// "http://localhost:8233").
	Origins []string
}

// codecHeaders are the headers the Temporal UI sends to a codec endpoint (ui-server v2.42.1,
// the UI of Temporal CLI v1.5.1): always Content-Type and X-Namespace; with
// codec.passAccessToken, Authorization and, when it holds an ID token, Authorization-Extras.
const codecHeaders = "Authorization, Authorization-Extras, Content-Type, X-Namespace"

// devUIKey marks a codec call let through as the dev UI's.
const devUIKey = "esm.devUI"

// codecRoutes serves the Temporal UI's remote codec: operators, and in esm dev its own UI, see
// decoded payloads; nobody else does.
func (s *Server) codecRoutes(r *gin.Engine) {
	codec := gin.WrapH(converter.NewPayloadCodecHTTPHandler(s.codec))
	g := r.Group("/codec", s.cors)
	for _, op := range []string{"/encode", "/decode"} {
		g.OPTIONS(op, s.preflight)
		g.POST(op, s.codecCaller, s.codecOperator, codec)
	}
}

// uiOrigin says whether origin is one the Temporal UI is served from: ESM_UI_ORIGIN, or in esm
// dev the UI it started.
func (s *Server) uiOrigin(origin string) bool {
	if origin == "" {
		return false
	}
	return origin == s.codecOrigin || (s.devUI != nil && slices.Contains(s.devUI.Origins, origin))
}

// cors lets the Temporal UI's origins call the codec, with the headers the UI sends.
func (s *Server) cors(c *gin.Context) {
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	if origin := c.GetHeader("Origin"); s.uiOrigin(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true") // the UI's codec.includeCredentials
		h.Set("Access-Control-Allow-Headers", codecHeaders)
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Max-Age", "600")
	}
	c.Next()
}

// preflight answers the browser's OPTIONS before a codec call: 204 for the UI's origins (cors
// wrote the headers), 403 naming the origin for any other, so that a misconfigured UI says why.
func (s *Server) preflight(c *gin.Context) {
	if origin := c.GetHeader("Origin"); origin != "" && !s.uiOrigin(origin) {
		writeProblem(c, errForbidden("origin "+origin+" is not the Temporal UI's (ESM_UI_ORIGIN)"))
		return
	}
	c.Status(http.StatusNoContent)
}

// codecCaller lets the dev UI's calls through (esm dev only, see DevUI) and authenticates
// every other caller.
func (s *Server) codecCaller(c *gin.Context) {
	if s.fromDevUI(c) {
		c.Set(devUIKey, true)
		c.Next()
		return
	}
	s.authenticate(c)
}

// fromDevUI: esm dev, no token, the exact Origin of the UI it started, from a loopback address.
func (s *Server) fromDevUI(c *gin.Context) bool {
	if s.devUI == nil || c.GetHeader("Authorization") != "" {
		return false
	}
	if origin := c.GetHeader("Origin"); origin == "" || !slices.Contains(s.devUI.Origins, origin) {
		return false
	}
	// The connection's own address: gin's ClientIP would believe X-Forwarded-For.
	ap, err := netip.ParseAddrPort(c.Request.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// codecOperator lets operators (and the dev UI) through.
func (s *Server) codecOperator(c *gin.Context) {
	if c.GetBool(devUIKey) || principal(c).HasRole(catalog.RoleOperator) {
		c.Next()
		return
	}
	writeProblem(c, errForbidden("only operators see decoded payloads"))
}
