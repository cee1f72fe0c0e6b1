package controllers_test

import (
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/stablering/stablering/api/v1alpha1"
)

// testClock is the controller's clock in specs that time drains and deadlines. It stands still
// unless the spec sets it, or lets it follow the real clock while nothing is being timed, so what
// a spec asserts about time holds on a machine of any speed.
type testClock struct {
	*clocktesting.FakePassiveClock
	mu       sync.Mutex
	unfollow func()
}

// newTestClock returns a clock standing at the real time; it stops following the real clock, if
// it does, when the spec ends.
func newTestClock() *testClock {
	c := &testClock{FakePassiveClock: clocktesting.NewFakePassiveClock(time.Now())}
	DeferCleanup(c.hold)
	return c
}

// follow makes the clock move on with the real clock from where it stands, until hold.
func (c *testClock) follow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unfollow != nil {
		return
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-ticker.C:
				c.SetTime(c.Now().Add(now.Sub(last)))
				last = now
			}
		}
	}()
	c.unfollow = func() {
		close(done)
		<-stopped
	}
}

// hold stops the clock where it is.
func (c *testClock) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unfollow != nil {
		c.unfollow()
		c.unfollow = nil
	}
}

// setAndPoke sets the clock to t and makes the controller reconcile the spec's StableRing now,
// by changing an annotation: a controller whose clock stands still would otherwise look again
// only when its last requeue, computed on the clock, comes due.
func (c *testClock) setAndPoke(ctx SpecContext, namespace string, t time.Time) {
	GinkgoHelper()
	c.SetTime(t)
	updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) {
		if sr.Annotations == nil {
			sr.Annotations = map[string]string{}
		}
		sr.Annotations["test.stablering.io/clock"] = strconv.FormatInt(t.UnixNano(), 10)
	})
}

// stepStarted waits until the StableRing's rollout is at step of batch and returns when the
// step started, on the controller's clock.
func stepStarted(ctx SpecContext, namespace string, batch int32, step v1alpha1.BatchStep) time.Time {
	GinkgoHelper()
	var start time.Time
	Eventually(func(g Gomega) {
		r := getRing(ctx, g, namespace).Status.Rollout
		g.Expect(r).NotTo(BeNil())
		g.Expect(r.Batch).To(Equal(batch))
		g.Expect(r.Step).To(Equal(step))
		g.Expect(r.StepStartTime).NotTo(BeNil())
		start = r.StepStartTime.Time
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), "batch %d never reached step %s", batch, step)
	return start
}
