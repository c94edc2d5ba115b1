package transport

// The accounts API (docs/protocol.md, "Accounts"): a small JSON API on the
// same listener as the web client and the WebSocket, so that every client
// signs in the same way. The service behind it is internal/accounts; this
// file only translates HTTP to its calls and its errors to status codes.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/actors"
	"parley/internal/accounts"
	"parley/internal/protocol"
)

// Accounts is what the transport needs of the accounts service
// (*accounts.Service): every call that takes a token authenticates it
// first; ip is the client's address, for the limits.
type Accounts interface {
	Register(ctx context.Context, username, password, ip string) (accounts.Auth, string, error)
	Login(ctx context.Context, username, password, ip string) (accounts.Auth, string, error)
	Authenticate(ctx context.Context, token string) (accounts.Auth, error)
	Logout(ctx context.Context, token string) (accounts.Auth, error)
	LogoutAll(ctx context.Context, token string) (accounts.Auth, error)
	ChangePassword(ctx context.Context, token, old, next, ip string) (accounts.Auth, error)
}

// SessionCookie is the cookie that carries a session's token.
const SessionCookie = "parley_session"

// apiBodyMax bounds a request body: the largest valid one (a 1024-byte
// password twice, JSON-escaped) fits well within it.
const apiBodyMax = 16 << 10

// routeAPI adds the API's routes to the mux.
func (s *Server) routeAPI() {
	s.mux.HandleFunc("POST /api/register", s.post(s.apiRegister))
	s.mux.HandleFunc("POST /api/login", s.post(s.apiLogin))
	s.mux.HandleFunc("POST /api/logout", s.post(s.apiLogout))
	s.mux.HandleFunc("POST /api/logout-all", s.post(s.apiLogoutAll))
	s.mux.HandleFunc("POST /api/password", s.post(s.apiPassword))
	s.mux.HandleFunc("GET /api/me", s.apiMe)
}

// post checks a POST's Origin by the WebSocket's rule (originAllowed): a
// page of another site cannot make a browser sign in, out, or change a
// password with the user's cookie.
func (s *Server) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !originAllowed(r, s.opts.AllowedOrigins) {
			s.refusals.add(refusedOrigin)
			apiError(w, http.StatusForbidden, "forbidden_origin")
			return
		}
		h(w, r)
	}
}

// requestToken is the session token of r: `Authorization: Bearer`, else the
// cookie; "" if neither.
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// decode reads r's body, strictly, into v: JSON only, at most apiBodyMax
// bytes, no unknown field, nothing after the object. On failure it has
// answered.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, "unsupported_media_type")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, apiBodyMax))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the object")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		apiError(w, http.StatusRequestEntityTooLarge, string(protocol.CodeTooLarge))
		return false
	case err != nil:
		apiError(w, http.StatusBadRequest, string(protocol.CodeBadRequest))
		return false
	}
	return true
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type sessionReply struct {
	Username string `json:"username"`
	Token    string `json:"token"`
}

func (s *Server) apiRegister(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if !decode(w, r, &req) {
		return
	}
	auth, token, err := s.opts.Accounts.Register(r.Context(), req.Username, req.Password, s.clientKey(r))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.setSessionCookie(w, r, token, auth.Expires)
	apiJSON(w, http.StatusCreated, sessionReply{Username: auth.Username, Token: token})
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if !decode(w, r, &req) {
		return
	}
	auth, token, err := s.opts.Accounts.Login(r.Context(), req.Username, req.Password, s.clientKey(r))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.setSessionCookie(w, r, token, auth.Expires)
	apiJSON(w, http.StatusOK, sessionReply{Username: auth.Username, Token: token})
}

// apiLogout ends the request's session, if it has a valid one, closes its
// WebSockets, and clears the cookie: 204 either way, so that a client whose
// session had already ended still gets its cookie cleared.
func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	if token := requestToken(r); token != "" {
		auth, err := s.opts.Accounts.Logout(r.Context(), token)
		switch {
		case err == nil:
			s.closeConns(func(c *conn) bool { return c.session == auth.Session })
		case !errors.Is(err, accounts.ErrUnauthorized):
			s.apiFail(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// apiLogoutAll ends every session of the request's account and closes all
// of its WebSockets.
func (s *Server) apiLogoutAll(w http.ResponseWriter, r *http.Request) {
	auth, err := s.opts.Accounts.LogoutAll(r.Context(), requestToken(r))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.closeConns(func(c *conn) bool { return c.account == auth.AccountID })
	s.clearSessionCookie(w, r)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// apiPassword changes the password and ends the account's other sessions,
// closing their WebSockets; this one stays.
func (s *Server) apiPassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Old string `json:"old"`
		New string `json:"new"`
	}
	if !decode(w, r, &req) {
		return
	}
	auth, err := s.opts.Accounts.ChangePassword(r.Context(), requestToken(r), req.Old, req.New, s.clientKey(r))
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.closeConns(func(c *conn) bool { return c.account == auth.AccountID && c.session != auth.Session })
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// apiMe answers who the session is, and renews the cookie, so that a
// client that loads its page regularly keeps the cookie as long as the
// session slides. A request without a valid session also clears the cookie,
// so that the browser's next upgrade is a guest's rather than a 401.
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	token := requestToken(r)
	auth, err := s.opts.Accounts.Authenticate(r.Context(), token)
	if err != nil {
		if errors.Is(err, accounts.ErrUnauthorized) {
			s.clearSessionCookie(w, r)
		}
		s.apiFail(w, r, err)
		return
	}
	if _, cerr := r.Cookie(SessionCookie); cerr == nil {
		s.setSessionCookie(w, r, token, auth.Expires)
	}
	apiJSON(w, http.StatusOK, struct {
		Username  string `json:"username"`
		CreatedAt string `json:"created_at"`
		Role      string `json:"role"`
	}{auth.Username, protocol.FormatTimestamp(auth.CreatedAt), auth.Role})
}

// apiFail answers err: the accounts service's errors by their status and
// code, anything else as a 500, logged.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var limited *accounts.RateLimitedError
	switch {
	case errors.As(err, &limited):
		s.refusals.add(refusedAPIRateLimited)
		setRetryAfter(w, limited.RetryAfter)
		apiError(w, http.StatusTooManyRequests, string(protocol.CodeRateLimited))
	case errors.Is(err, accounts.ErrBusy):
		s.refusals.add(refusedAPIRateLimited)
		setRetryAfter(w, time.Second)
		apiError(w, http.StatusTooManyRequests, string(protocol.CodeRateLimited))
	case errors.Is(err, accounts.ErrTaken):
		apiError(w, http.StatusConflict, string(protocol.CodeUsernameTaken))
	case errors.Is(err, accounts.ErrInvalidUsername):
		apiError(w, http.StatusBadRequest, string(protocol.CodeInvalidUsername))
	case errors.Is(err, accounts.ErrWeakPassword):
		apiError(w, http.StatusBadRequest, "weak_password")
	case errors.Is(err, accounts.ErrBadCredentials):
		apiError(w, http.StatusUnauthorized, "bad_credentials")
	case errors.Is(err, accounts.ErrUnauthorized):
		apiError(w, http.StatusUnauthorized, "unauthorized")
	case r.Context().Err() != nil: // the client has gone: nobody reads this
		s.log.Debug("accounts api: client gone", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		apiError(w, http.StatusServiceUnavailable, string(protocol.CodeServerBusy))
	default:
		s.log.Error("accounts api", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		apiError(w, http.StatusInternalServerError, "internal_error")
	}
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

func apiError(w http.ResponseWriter, status int, code string) {
	apiJSON(w, status, struct {
		Error string `json:"error"`
	}{code})
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // our own structs of strings: cannot happen
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// secure reports whether cookies must be Secure: the request came over TLS,
// or the server is told it is behind a TLS proxy.
func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.opts.SecureCookies }

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/",
		MaxAge:   max(1, int(time.Until(expires).Seconds())),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r),
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r),
	})
}

// closeConns closes, with 1008, the WebSockets that match: those of a
// session that has ended. A logout is rare, so walking every connection is
// cheaper than keeping an index per session.
func (s *Server) closeConns(match func(*conn) bool) {
	s.conns.Range(func(_ uint64, c *conn) bool {
		if c.account != 0 && match(c) {
			c.out.Close(protocol.ClosePolicy, "session ended")
		}
		return true
	})
}

// upgradeAuth decides who an upgrade is: an account (a valid token in the
// cookie or `Authorization: Bearer`), or a guest (no token, guests allowed).
// A token that is not valid, or no token without guests, gets 401: ok is
// false and it has answered.
func (s *Server) upgradeAuth(w http.ResponseWriter, r *http.Request) (auth *accounts.Auth, ok bool) {
	token := ""
	if s.opts.Accounts != nil {
		token = requestToken(r)
	}
	if token == "" {
		if s.opts.NoGuests {
			s.refusals.add(refusedUnauthorized)
			http.Error(w, "sign in first: this server has no guests", http.StatusUnauthorized)
			return nil, false
		}
		return nil, true
	}
	a, err := s.opts.Accounts.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, accounts.ErrUnauthorized):
		s.refusals.add(refusedUnauthorized)
		http.Error(w, "invalid or expired session", http.StatusUnauthorized)
		return nil, false
	case err != nil:
		s.log.Error("authenticate upgrade", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "cannot check the session now", http.StatusServiceUnavailable)
		return nil, false
	}
	return &a, true
}

// connectAccount makes the chat session of an account's connection: one
// that has the account's name from the start, and is one person with the
// account's other connections (actors.Hub.ConnectAccount).
func (s *Server) connectAccount(client string, peer actors.Peer, auth *accounts.Auth) *actors.Session {
	return s.hub.ConnectAccount(client, peer, auth.Username, auth.Role == accounts.RoleAdmin)
}
