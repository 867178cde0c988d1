package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// SubscriberStore is what the subscription routes write; *store.Store
// implements it. A Store without it serves no subscriptions.
type SubscriberStore interface {
	SubscribeEmail(ctx context.Context, address string) error
	AddSubscriber(ctx context.Context, kind, address string, confirmed bool) (store.Subscriber, bool, error)
	ConfirmSubscriber(ctx context.Context, id int64) (store.Subscriber, error)
	RemoveSubscriber(ctx context.Context, id int64) (store.Subscriber, error)
}

var _ SubscriberStore = (*store.Store)(nil)

// Limits of the subscription routes.
const (
	// maxSignupIPs bounds the sign-up limiter's memory: past it, the
	// addresses whose window is over are dropped, and if none is, new
	// addresses are refused until one is (a flood from many addresses
	// must not grow the map without end).
	maxSignupIPs = 10000
)

// emailSignup reports whether the status page offers the email form.
func emailSignup(cfg *config.Config) bool {
	return cfg.Subscriptions.Enabled && cfg.Subscriptions.EmailNotifier != "" && cfg.Agent.AckKey != ""
}

type subscribeRoutes struct {
	s *Server

	mu     sync.Mutex
	signup map[string][]time.Time // client IP → sign-ups in the last hour
}

// subscribeRoutes adds the routes of status-page subscriptions:
//
//	POST /subscribe                    the page's email form (double opt-in)
//	GET, POST /subscribe/confirm/TOKEN the opt-in link: GET shows a button, POST confirms
//	GET, POST /unsubscribe/TOKEN       the same for leaving; POST is also RFC 8058's one-click
//	POST /api/v1/subscribers           a webhook subscription, with the listen_token only
//
// Links are confirmed by POST only: mail scanners fetch every link in a
// message, and a fetch must not subscribe or unsubscribe anyone.
func (s *Server) subscribeRoutes() {
	h := &subscribeRoutes{s: s, signup: map[string][]time.Time{}}
	s.mux.Handle("POST /subscribe", s.auth(http.HandlerFunc(h.handleSignup)))
	s.mux.HandleFunc("GET /subscribe/confirm/{token}", h.handleConfirm)
	s.mux.HandleFunc("POST /subscribe/confirm/{token}", h.handleConfirm)
	s.mux.HandleFunc("GET /unsubscribe/{token}", h.handleUnsubscribe)
	s.mux.HandleFunc("POST /unsubscribe/{token}", h.handleUnsubscribe)
	s.mux.HandleFunc("POST /api/v1/subscribers", h.handleAPIAdd)
}

var subscribePage = template.Must(template.New("subscribe").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}button{font-size:1em;padding:.4em 1.2em}.addr{font-weight:600;word-break:break-all}</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{- if .Address}}
<p class="addr">{{.Address}}</p>
{{- end}}
{{- if .Button}}
<form method="post">
<p><button type="submit">{{.Button}}</button></p>
</form>
{{- end}}
</body>
</html>
`))

type subscribeView struct {
	Title, Text, Address, Button string
}

func (h *subscribeRoutes) page(w http.ResponseWriter, code int, v subscribeView) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Robots-Tag", "noindex")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := subscribePage.Execute(w, v); err != nil {
		h.s.log.Debug("subscription page not written", "err", err)
	}
}

func (h *subscribeRoutes) store() (SubscriberStore, bool) {
	st, ok := h.s.o.Store.(SubscriberStore)
	return st, ok
}

// off answers 404 when subscriptions are off; it returns true then.
func (h *subscribeRoutes) off(w http.ResponseWriter, cfg *config.Config) bool {
	if _, ok := h.store(); ok && cfg.Subscriptions.Enabled && cfg.Agent.AckKey != "" {
		return false
	}
	h.page(w, http.StatusNotFound, subscribeView{Title: "Subscriptions are off",
		Text: "This status page does not offer subscriptions."})
	return true
}

// handleSignup takes the status page's form. Its answer is the same
// whether the address is new, pending or subscribed already: the page must
// not tell anyone who subscribed.
func (h *subscribeRoutes) handleSignup(w http.ResponseWriter, r *http.Request) {
	cfg := h.s.o.Config()
	if h.off(w, cfg) {
		return
	}
	if !emailSignup(cfg) {
		h.page(w, http.StatusNotFound, subscribeView{Title: "Email subscriptions are off",
			Text: "This status page has no mail server for subscriptions."})
		return
	}
	if err := r.ParseForm(); err != nil {
		h.page(w, http.StatusBadRequest, subscribeView{Title: "Bad request", Text: "The form could not be read."})
		return
	}
	addr, err := store.ParseSubscriberEmail(r.PostForm.Get("email"))
	if err != nil {
		h.page(w, http.StatusBadRequest, subscribeView{Title: "Invalid address", Text: err.Error()})
		return
	}
	if wait, ok := h.allow(clientIP(r), cfg.Subscriptions.SignupPerHour, h.s.o.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		h.page(w, http.StatusTooManyRequests, subscribeView{Title: "Too many sign-ups",
			Text: "Too many subscriptions were requested from your network in the last hour; try again later."})
		return
	}
	st, _ := h.store()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := st.SubscribeEmail(ctx, addr); err != nil {
		h.storeError(w, "subscribe", err)
		return
	}
	h.page(w, http.StatusAccepted, subscribeView{Title: "Check your inbox",
		Text:    "If this address can receive mail, a message with a confirmation link is on its way. Nothing is sent until you confirm.",
		Address: addr})
}

// clientIP is the peer's address: X-Forwarded-For is not trusted, as any
// client can set it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allow counts a sign-up of ip at now against perHour, and says how long
// to wait when over.
func (h *subscribeRoutes) allow(ip string, perHour int, now time.Time) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cut := now.Add(-time.Hour)
	keep := func(ts []time.Time) []time.Time {
		i := 0
		for i < len(ts) && !ts[i].After(cut) {
			i++
		}
		return ts[i:]
	}
	ts := keep(h.signup[ip])
	if len(ts) >= perHour {
		h.signup[ip] = ts
		return ts[0].Sub(cut), false
	}
	if _, known := h.signup[ip]; !known && len(h.signup) >= maxSignupIPs {
		for k, v := range h.signup {
			if v = keep(v); len(v) == 0 {
				delete(h.signup, k)
			}
		}
		if len(h.signup) >= maxSignupIPs {
			return time.Minute, false
		}
	}
	h.signup[ip] = append(ts, now)
	return 0, true
}

// token checks the link's token for purpose p and answers the errors; ok
// is false when it did.
func (h *subscribeRoutes) token(w http.ResponseWriter, r *http.Request, cfg *config.Config, p acklink.Purpose) (int64, bool) {
	id, err := acklink.VerifyFor([]byte(cfg.Agent.AckKey.Reveal()), p, r.PathValue("token"), h.s.o.Now())
	switch {
	case errors.Is(err, acklink.ErrExpired):
		h.page(w, http.StatusGone, subscribeView{Title: "Link expired",
			Text: "This confirmation link has expired. Subscribe again from the status page to get a new one."})
		return 0, false
	case err != nil:
		h.page(w, http.StatusBadRequest, subscribeView{Title: "Invalid link",
			Text: "This link is not valid: it may have been cut short or changed, or the status page's key has changed since it was sent."})
		return 0, false
	}
	return id, true
}

func (h *subscribeRoutes) storeError(w http.ResponseWriter, what string, err error) {
	h.s.log.Error(what+": database error", "err", err)
	h.page(w, http.StatusServiceUnavailable, subscribeView{Title: "Try again", Text: "The database did not answer; try again in a moment."})
}

func (h *subscribeRoutes) handleConfirm(w http.ResponseWriter, r *http.Request) {
	cfg := h.s.o.Config()
	if h.off(w, cfg) {
		return
	}
	id, ok := h.token(w, r, cfg, acklink.Confirm)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		h.page(w, http.StatusOK, subscribeView{Title: "Confirm your subscription",
			Text: "Press the button to get this status page's incident updates by email.", Button: "Confirm"})
		return
	}
	st, _ := h.store()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sub, err := st.ConfirmSubscriber(ctx, id)
	switch {
	case errors.Is(err, store.ErrNoSubscriber):
		h.page(w, http.StatusNotFound, subscribeView{Title: "Not subscribed",
			Text: "This subscription was removed since the link was sent. Subscribe again from the status page."})
	case err != nil:
		h.storeError(w, "confirm subscription", err)
	default:
		h.s.log.Info("subscription confirmed", "subscriber", sub.ID)
		h.page(w, http.StatusOK, subscribeView{Title: "Subscribed",
			Text:    "You will get this status page's incident updates at this address. Every mail has a link to unsubscribe.",
			Address: sub.Address})
	}
}

// handleUnsubscribe serves the link of every mail. A POST removes the
// subscriber: the page's button, or a mail client's one-click unsubscribe
// (RFC 8058, body List-Unsubscribe=One-Click), which expects a 2xx, so an
// address gone already is a success too.
func (h *subscribeRoutes) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	cfg := h.s.o.Config()
	if h.off(w, cfg) {
		return
	}
	id, ok := h.token(w, r, cfg, acklink.Unsubscribe)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		h.page(w, http.StatusOK, subscribeView{Title: "Unsubscribe?",
			Text: "Press the button to stop getting this status page's incident updates.", Button: "Unsubscribe"})
		return
	}
	st, _ := h.store()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sub, err := st.RemoveSubscriber(ctx, id)
	switch {
	case errors.Is(err, store.ErrNoSubscriber):
		h.page(w, http.StatusOK, subscribeView{Title: "Unsubscribed", Text: "This address is not subscribed (any more)."})
	case err != nil:
		h.storeError(w, "unsubscribe", err)
	default:
		h.s.log.Info("unsubscribed", "subscriber", sub.ID)
		h.page(w, http.StatusOK, subscribeView{Title: "Unsubscribed", Text: "You will get no more updates.", Address: sub.Address})
	}
}

// apiSubscriber is the JSON of a subscriber in the API.
type apiSubscriber struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Address   string `json:"address"`
	Confirmed bool   `json:"confirmed"`
	Created   bool   `json:"created"`
}

// handleAPIAdd adds a webhook subscriber. Only with the listen_token: a
// public form must not make the server POST to any URL someone types
// (requests into the private network behind it), so without a token
// configured the route is forbidden.
func (h *subscribeRoutes) handleAPIAdd(w http.ResponseWriter, r *http.Request) {
	cfg := h.s.o.Config()
	token := cfg.Agent.ListenToken.Reveal()
	st, ok := h.store()
	switch {
	case !cfg.Subscriptions.Enabled || !ok:
		apiError(w, http.StatusNotFound, "subscriptions are off ([subscriptions].enabled)")
		return
	case token == "":
		apiError(w, http.StatusForbidden, "webhook subscriptions need [agent].listen_token")
		return
	case !tokenOK(r, token):
		w.Header().Add("WWW-Authenticate", `Bearer realm="pulse"`)
		apiError(w, http.StatusUnauthorized, "send the listen_token as a bearer token")
		return
	}
	var body struct {
		URL string `json:"url"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "want a JSON object {\"url\": \"https://...\"}: "+jsonProblem(err))
		return
	}
	if body.URL == "" {
		apiError(w, http.StatusBadRequest, "url is required")
		return
	}
	if err := store.CheckSubscriberURL(body.URL); err != nil {
		apiError(w, http.StatusBadRequest, "url: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sub, created, err := st.AddSubscriber(ctx, store.SubscriberWebhook, body.URL, true)
	if err != nil {
		h.s.log.Error("add webhook subscriber: database error", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the database did not answer; try again")
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		h.s.log.Info("webhook subscriber added", "subscriber", sub.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(apiSubscriber{ID: sub.ID, Kind: sub.Kind, Address: sub.Address, Confirmed: sub.Confirmed(), Created: created})
}

// jsonProblem says what was wrong with a body without echoing it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "unreadable body"
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
