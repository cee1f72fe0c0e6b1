package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// harness is what every point is measured with.
type harness struct {
	c          client.WithWatch
	kubeconfig string
	bin, work  string
}

// measurement is what one point measured.
type measurement struct {
	gridPoint
	managerRSS, managerPeakRSS int64 // bytes, steady and the peak during the rollout
	managerCPUSteady           float64
	managerCPURollout          float64 // cores
	gatewayRSS                 int64   // bytes, mean of the replicas, steady
	reconcileP50, reconcileP99 time.Duration
	writesPerRing, batches     float64 // status writes
	sliceWritesPerRing         float64 // MemberSlice writes
	statusBytes, sliceBytes    int     // the largest StableRing and MemberSlice objects
	bytesPerRing               float64 // bytes of the objects written per ring per rollout
	readyP50, readyP99         time.Duration
	gatewayP50, gatewayP99     time.Duration
	versionsSkipped, versions  int
	rollout                    time.Duration
}

func (h *harness) measure(ctx context.Context, pt gridPoint) (m measurement, err error) {
	m.gridPoint = pt
	namespace := fmt.Sprintf("scale-n%d-r%d-p%d", pt.members, pt.rings, pt.unrelated)
	if err := createRings(ctx, h.c, namespace, pt.rings, pt.members); err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, deleteNamespace(ctx, h.c, namespace)) }()
	managerAdmin, err := freeAddr()
	if err != nil {
		return m, err
	}
	manager, err := start(ctx, "manager-"+namespace, h.bin+"/manager", h.kubeconfig, h.work, managerAdmin,
		"--metrics-bind-address", managerAdmin, "--health-probe-bind-address", "0")
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, manager.stop()) }()
	gateways, err := h.startGateways(ctx, namespace)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, stopAll(gateways)) }()
	timeout := 5*time.Minute + time.Duration(pt.rings*pt.members)*20*time.Millisecond
	if _, err := waitRings(ctx, h.c, namespace, pt.rings, pt.members, timeout); err != nil {
		return m, err
	}

	// Steady.
	time.Sleep(2 * time.Second)
	u0, err := manager.measure()
	if err != nil {
		return m, err
	}
	time.Sleep(steadyFor)
	u1, err := manager.measure()
	if err != nil {
		return m, err
	}
	m.managerRSS, m.managerCPUSteady = u1.rss, cores(u0, u1)
	gu, err := meanUsage(gateways)
	if err != nil {
		return m, err
	}
	m.gatewayRSS = gu.rss

	// Rollout.
	text, err := manager.scrape(ctx)
	if err != nil {
		return m, err
	}
	before, err := reconcileHistogram(text)
	if err != nil {
		return m, err
	}
	recCtx, stopRec := context.WithCancel(ctx)
	defer stopRec()
	rec, err := record(recCtx, h.c, namespace, gateways)
	if err != nil {
		return m, err
	}
	peak := sample([]*proc{manager}, 250*time.Millisecond)
	r0, err := manager.measure()
	if err != nil {
		return m, err
	}
	if err := startRollout(ctx, h.c, namespace, pt.rings); err != nil {
		return m, err
	}
	time.Sleep(2 * time.Second) // the StatefulSets' new revision reaches the rings
	rings, err := waitRings(ctx, h.c, namespace, pt.rings, pt.members, timeout)
	if err != nil {
		return m, err
	}
	r1, err := manager.measure()
	if err != nil {
		return m, err
	}
	time.Sleep(time.Second) // the last versions reach the gateways
	stopRec()
	m.managerPeakRSS = peak.end()[manager]
	m.managerCPURollout, m.rollout = cores(r0, r1), r1.at.Sub(r0.at)
	text, err = manager.scrape(ctx)
	if err != nil {
		return m, err
	}
	after, err := reconcileHistogram(text)
	if err != nil {
		return m, err
	}
	delta := after.minus(before)
	m.reconcileP50 = seconds(delta.quantile(0.5))
	m.reconcileP99 = seconds(delta.quantile(0.99))
	w := rec.writeStats()
	m.writesPerRing = float64(w.statusWrites) / float64(pt.rings)
	m.sliceWritesPerRing = float64(w.sliceWrites) / float64(pt.rings)
	m.bytesPerRing = float64(w.bytes) / float64(pt.rings)
	m.statusBytes, m.sliceBytes = w.largestStatus, w.largestSlice
	for _, sr := range rings {
		m.batches += float64(sr.Status.Rollout.Batch) / float64(pt.rings)
	}
	ready := rec.readinessLatencies()
	m.readyP50, m.readyP99 = percentile(ready, 50), percentile(ready, 99)
	lat, skipped := rec.gatewayLatencies(gateways)
	m.gatewayP50, m.gatewayP99 = percentile(lat, 50), percentile(lat, 99)
	m.versions, m.versionsSkipped = len(lat)+skipped, skipped
	return m, nil
}

// startGateways starts gatewayReplicas gateways routing by the StableRings of namespace.
func (h *harness) startGateways(ctx context.Context, namespace string, args ...string) ([]*proc, error) {
	var gateways []*proc
	for i := range gatewayReplicas {
		listen, err1 := freeAddr()
		admin, err2 := freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			return nil, errors.Join(err, stopAll(gateways))
		}
		g, err := start(ctx, fmt.Sprintf("gateway-%d-%s", i, namespace), h.bin+"/gateway", h.kubeconfig, h.work, admin,
			append([]string{"--listen", listen, "--admin", admin, "--namespaces", namespace}, args...)...)
		if err != nil {
			return nil, errors.Join(err, stopAll(gateways))
		}
		gateways = append(gateways, g)
	}
	return gateways, nil
}

// cores is the CPU used between two usages, in cores.
func cores(a, b usage) float64 {
	return (b.cpu - a.cpu).Seconds() / b.at.Sub(a.at).Seconds()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
