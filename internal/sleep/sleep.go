// Package sleep waits for a time or a duration unless a context ends first, for loops that pace
// themselves (a load generator's reconnects, a server's drain) and must stop promptly when asked.
// The waits are on a clock (k8s.io/utils/clock), so tests can pace such loops on a fake one.
package sleep

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// On waits on a clock; nil is the real clock.
type On struct{ Clock clock.Clock }

// For waits for d on the real clock, or until ctx is done, and reports whether ctx is still
// live. A d of zero or less does not wait.
func For(ctx context.Context, d time.Duration) bool { return On{}.For(ctx, d) }

// Until waits until t on the real clock, or until ctx is done, and reports whether ctx is still
// live. A t that has passed does not wait.
func Until(ctx context.Context, t time.Time) bool { return On{}.Until(ctx, t) }

// For waits for d on o's clock, or until ctx is done, and reports whether ctx is still live. A d
// of zero or less does not wait.
func (o On) For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := o.clock().NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// Until waits until t on o's clock, or until ctx is done, and reports whether ctx is still live.
// A t that has passed does not wait.
func (o On) Until(ctx context.Context, t time.Time) bool {
	return o.For(ctx, t.Sub(o.clock().Now()))
}

// Now is the time on o's clock.
func (o On) Now() time.Time { return o.clock().Now() }

func (o On) clock() clock.Clock {
	if o.Clock == nil {
		return clock.RealClock{}
	}
	return o.Clock
}
