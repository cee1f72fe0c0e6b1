package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// gatewayPoint is a gateways-only measurement: rings of members each, whose statuses the harness
// writes itself (synthetic rings), with no pods and no manager.
type gatewayPoint struct{ rings, members int }

// gatewayGrid returns the gateways-only points, measured after the grid.
func gatewayGrid(quick bool) []gatewayPoint {
	if quick {
		return []gatewayPoint{{10, 100}}
	}
	return []gatewayPoint{{100, 100}, {10, 1000}, {100, 1000}}
}

// The changes of a gateways-only point: one member of one ring restarts (a new address, so a new
// ring version) every changeEvery, the rings in turn.
const (
	ringChanges = 150
	changeEvery = 200 * time.Millisecond
)

// gatewaySettle is how long the gateways are left before their memory is read.
const gatewaySettle = 3 * time.Second

// gatewayIdle is how long the gateways' CPU is measured without changes (with the recorder's
// polling), beside their CPU during the changes.
const gatewayIdle = 5 * time.Second

// gatewayMeasurement is what one gateways-only point measured.
type gatewayMeasurement struct {
	gatewayPoint
	rssNone, rssLoaded int64         // bytes, mean of the gateways, before the rings and with them
	idleCores          float64       // mean of the gateways, without changes
	cpuPerChange       time.Duration // mean of the gateways: their CPU during the changes, per change
	changes            int
	changing           time.Duration // how long the changes took
	p50, p99           time.Duration // status write to all gateways routing by its version
	versionsSkipped    int
}

// measureGateways loads pt's synthetic rings into a namespace that gateways already watch, then
// changes them one at a time and times each change to every gateway. With profileDir, the first
// gateway's CPU profile during the changes is written there.
func (h *harness) measureGateways(ctx context.Context, pt gatewayPoint, profileDir string) (m gatewayMeasurement, err error) {
	m.gatewayPoint = pt
	namespace := fmt.Sprintf("gateways-r%d-n%d", pt.rings, pt.members)
	if err := h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, deleteNamespace(ctx, h.c, namespace)) }()
	gateways, err := h.startGateways(ctx, namespace, "--pprof")
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, stopAll(gateways)) }()
	time.Sleep(gatewaySettle)
	none, err := meanUsage(gateways)
	if err != nil {
		return m, err
	}
	m.rssNone = none.rss

	rings, err := loadRings(ctx, h.c, namespace, pt)
	if err != nil {
		return m, err
	}
	if err := waitRouted(ctx, gateways, rings, 5*time.Minute); err != nil {
		return m, err
	}
	time.Sleep(gatewaySettle)
	loaded, err := meanUsage(gateways)
	if err != nil {
		return m, err
	}
	m.rssLoaded = loaded.rss

	recCtx, stopRec := context.WithCancel(ctx)
	defer stopRec()
	rec, err := record(recCtx, h.c, namespace, gateways)
	if err != nil {
		return m, err
	}
	i0, err := meanUsage(gateways)
	if err != nil {
		return m, err
	}
	time.Sleep(gatewayIdle)
	i1, err := meanUsage(gateways)
	if err != nil {
		return m, err
	}
	profiled := func() error { return nil }
	if profileDir != "" {
		path := filepath.Join(profileDir, fmt.Sprintf("gateway-r%d-n%d.pprof", pt.rings, pt.members))
		profiled = gateways[0].profileCPU(ctx, ringChanges*changeEvery, path)
	}
	if m.changing, err = changeRings(ctx, h.c, rings); err != nil {
		return m, errors.Join(err, profiled())
	}
	time.Sleep(time.Second) // the last versions reach the gateways
	stopRec()
	c1, err := meanUsage(gateways)
	if err := errors.Join(err, profiled()); err != nil {
		return m, err
	}
	m.changes, m.idleCores = ringChanges, cores(i0, i1)
	m.cpuPerChange = (c1.cpu - i1.cpu) / ringChanges
	lat, skipped := rec.gatewayLatencies(gateways)
	m.p50, m.p99, m.versionsSkipped = percentile(lat, 50), percentile(lat, 99), skipped
	return m, nil
}

// loadRings creates pt's StableRings in namespace and writes the status of each, every member
// Serving.
func loadRings(ctx context.Context, c client.Client, namespace string, pt gatewayPoint) ([]*syntheticRing, error) {
	rings := make([]*syntheticRing, pt.rings)
	ips := &podIPs{}
	err := parallel(pt.rings, func(i int) error {
		sr := stableRing(namespace, i)
		if err := c.Create(ctx, sr); err != nil {
			return err
		}
		rings[i] = newSyntheticRing(sr, pt.members, ips)
		return writeStatus(ctx, c, rings[i])
	})
	return rings, err
}

// writeStatus writes the MemberSlices and status the manager would write for s now, as the
// manager does: the slices that changed, then status through its subresource.
func writeStatus(ctx context.Context, c client.Client, s *syntheticRing) error {
	res, err := s.resolve(time.Now())
	if err != nil {
		return err
	}
	for i := range res.Slices {
		want := res.Slices[i].DeepCopy()
		old := s.slices[want.Name]
		switch {
		case old != nil && old.Version == want.Version:
			continue
		case old == nil:
			err = c.Create(ctx, want)
		default:
			want.ResourceVersion = old.ResourceVersion
			err = c.Update(ctx, want)
		}
		if err != nil {
			return err
		}
		s.slices[want.Name] = want
	}
	s.ring.Status, s.members = res.Status, res.Members
	return c.Status().Update(ctx, s.ring)
}

// changeRings restarts one member of one ring every changeEvery, ringChanges times, taking the
// rings in turn and each ring's members in turn, and returns how long it took.
func changeRings(ctx context.Context, c client.Client, rings []*syntheticRing) (time.Duration, error) {
	start := time.Now()
	tick := time.NewTicker(changeEvery)
	defer tick.Stop()
	for k := range ringChanges {
		s := rings[k%len(rings)]
		s.restart(k / len(rings) % len(s.pods))
		if err := writeStatus(ctx, c, s); err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
	return time.Since(start), nil
}

// waitRouted waits until every gateway routes every ring by the version last written.
func waitRouted(ctx context.Context, gateways []*proc, rings []*syntheticRing, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, g := range gateways {
		for {
			text, err := g.scrape(ctx)
			if err != nil {
				return err
			}
			versions, err := ringVersions(text)
			if err != nil {
				return err
			}
			if routesAll(versions, rings) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not route every ring by its last version after %s", g.name, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// routesAll reports whether versions (by ring ID) holds every ring's last written version.
func routesAll(versions map[string]string, rings []*syntheticRing) bool {
	for _, s := range rings {
		if versions[s.ring.Namespace+"/"+s.ring.Name] != s.ring.Status.RingVersion {
			return false
		}
	}
	return true
}
