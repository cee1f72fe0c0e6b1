// Package sleep waits for a time or a duration unless a context ends first, for loops that pace
// themselves (a load generator's reconnects, a server's drain) and must stop promptly when asked.
package sleep

import (
	"context"
	"time"
)

// For waits for d, or until ctx is done, and reports whether ctx is still live. A d of zero or
// less does not wait.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Until waits until t, or until ctx is done, and reports whether ctx is still live. A t that has
// passed does not wait.
func Until(ctx context.Context, t time.Time) bool { return For(ctx, time.Until(t)) }
