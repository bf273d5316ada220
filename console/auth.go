package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options protect the console.
type Options struct {
	// Token is what logs in: the login form, ?token= on a first visit (the
	// URL the command prints), or an "Authorization: Bearer" header for
	// scripts. Empty: a random one is made (Console.Token).
	Token string
	// Hosts are the host names (or host:port) the console answers to
	// besides localhost, 127.0.0.1 and ::1: a request naming another Host
	// is refused, which stops DNS rebinding; a POST whose Origin is
	// another host too.
	Hosts []string
}

// sessionCookie holds a logged-in browser's session id.
const (
	sessionCookie = "shardgate_console"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 1024
)

// auth checks logins and sessions.
type auth struct {
	token []byte
	hosts []string

	mu       sync.Mutex
	sessions map[string]time.Time // id → expiry
}

func newAuth(o Options) *auth {
	tok := o.Token
	if tok == "" {
		tok = randomID()
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, h := range o.Hosts {
		hosts = append(hosts, strings.ToLower(h))
	}
	return &auth{token: []byte(tok), hosts: hosts, sessions: map[string]time.Time{}}
}

func randomID() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hostOK: the request names a host the console answers to.
func (a *auth) hostOK(host string) bool {
	host = strings.ToLower(host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	return slices.Contains(a.hosts, name) || slices.Contains(a.hosts, host)
}

// originOK: a POST comes from a page of the console (or from no page).
func (a *auth) originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser's cross-site request (they send Origin on POST)
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) && a.hostOK(u.Host)
}

func (a *auth) tokenOK(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), a.token) == 1
}

// authenticated: a live session cookie, or the token as a bearer.
func (a *auth) authenticated(r *http.Request) bool {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return a.tokenOK(t)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[c.Value]
	if ok && time.Now().After(exp) {
		delete(a.sessions, c.Value)
		return false
	}
	return ok
}

// login starts a session and sets its cookie.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	id := randomID()
	now := time.Now()
	a.mu.Lock()
	for k, exp := range a.sessions {
		if now.After(exp) || len(a.sessions) >= maxSessions {
			delete(a.sessions, k) // expired, or the oldest-ish when full
		}
	}
	a.sessions[id] = now.Add(sessionTTL)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// protect wraps the console's handler: Host checked on every request; the
// page, the API and the events only for a logged-in browser or a bearer;
// POSTs also checked for their Origin.
func (a *auth) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hostOK(r.Host) {
			http.Error(w, "shardgate console: unknown host "+r.Host+" (start the console with --allow-host to serve it)", http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodPost && !a.originOK(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
			return
		}
		switch {
		case r.URL.Path == "/login" && r.Method == http.MethodPost:
			if !a.tokenOK(r.PostFormValue("token")) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write(loginHTML("wrong token"))
				return
			}
			a.login(w, r)
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		case a.authenticated(r):
			next.ServeHTTP(w, r)
			return
		case r.URL.Path == "/" && r.Method == http.MethodGet:
			if a.tokenOK(r.URL.Query().Get("token")) {
				a.login(w, r) // the printed URL: log in, then drop the token from the address bar
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(loginHTML(""))
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "log in to the console first (its token is printed at its start)"})
	})
}

func loginHTML(msg string) []byte {
	if msg != "" {
		msg = `<p id="error">` + msg + `</p>`
	}
	return []byte(`<!doctype html><html><head><meta charset="utf-8"><title>shardgate console: log in</title></head>
<body><h1>shardgate console</h1>` + msg + `<form method="post" action="/login">
<label>Token <input id="token" name="token" type="password" autocomplete="off"></label>
<button id="login" type="submit">Log in</button></form>
<p>The token is printed when the console starts.</p></body></html>`)
}
