package cluster

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"
)

// A ChannelContext lives as long as the channel's lease is renewed: its
// deadline follows the renewals instead of ending at the first one.
func TestChannelContextFollowsRenewals(t *testing.T) {
	dsn, admin := testDB(t)
	a := start(t, dsn, opts("a", "slack"))
	waitFor(t, "all held", func() error { return partition(t, admin, []*agent{a}, []string{"slack"}) })
	ctx, cancel := a.ChannelContext(t.Context(), "slack")
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatalf("ended while the lease was renewed: %v", context.Cause(ctx))
	case <-time.After(3 * testTTL):
	}
	cancel()
	if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cause after cancel = %v, want context.Canceled", err)
	}

	// A channel not held gives a context ended already.
	other, cancel2 := a.ChannelContext(t.Context(), "not-a-channel")
	defer cancel2()
	if err := context.Cause(other); !errors.Is(err, ErrLeaseExpired) {
		t.Errorf("context of a channel not held: cause %v, want ErrLeaseExpired", err)
	}
}

// Released by a reload, the channel's context ends at once.
func TestChannelContextEndsWhenReleased(t *testing.T) {
	dsn, admin := testDB(t)
	a := start(t, dsn, opts("a", "slack", "old"))
	waitFor(t, "all held", func() error { return partition(t, admin, []*agent{a}, []string{"slack", "old"}) })
	ctx, cancel := a.ChannelContext(t.Context(), "old")
	defer cancel()
	keep, cancelKeep := a.ChannelContext(t.Context(), "slack")
	defer cancelKeep()
	a.Reconfigure("h1", []string{"slack"})
	select {
	case <-ctx.Done():
	case <-time.After(patience):
		t.Fatal("the context of a released channel did not end")
	}
	if err := context.Cause(ctx); !errors.Is(err, ErrLeaseExpired) {
		t.Errorf("cause = %v, want ErrLeaseExpired", err)
	}
	if keep.Err() != nil {
		t.Errorf("the context of a channel still held ended: %v", context.Cause(keep))
	}
}

// Cut off from the database, the agent's channel context ends by the
// lease's local deadline (cut + TTL - Margin at the latest), before the
// database could let anybody else take the channel.
func TestChannelContextEndsWhenCutOff(t *testing.T) {
	dsn, admin := testDB(t)
	u, _ := url.Parse(dsn)
	proxy := newBlackhole(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	a := start(t, u.String(), opts("a", "slack"))
	waitFor(t, "all held", func() error { return partition(t, admin, []*agent{a}, []string{"slack"}) })
	ctx, cancel := a.ChannelContext(t.Context(), "slack")
	defer cancel()

	proxy.cut.Store(true)
	cut := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(patience):
		t.Fatal("the channel context outlived the cut")
	}
	took := time.Since(cut)
	if err := context.Cause(ctx); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("cause = %v, want ErrLeaseExpired", err)
	}
	// The local deadline is at most TTL - Margin after the cut; timers fire
	// a little late under -race on a loaded machine, hence the bound of
	// TTL. What matters is the comparison with the database's expiry below.
	if took > testTTL {
		t.Errorf("ended %v after the cut, want within TTL - Margin (%v) plus slack", took, testTTL-testMargin)
	}
	var dbExpiry time.Time
	if err := admin.QueryRow(`SELECT expires_at FROM leases WHERE name = $1`, ChannelName("slack")).Scan(&dbExpiry); err != nil {
		t.Fatal(err)
	}
	if ended := cut.Add(took); !ended.Before(dbExpiry) {
		t.Errorf("ended at %v, not before the database's expiry %v", ended, dbExpiry)
	}
	t.Logf("channel context ended %v after the cut, %v before the database's expiry", took.Round(time.Millisecond), dbExpiry.Sub(cut.Add(took)).Round(time.Millisecond))
}
