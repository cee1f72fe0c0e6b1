package ring

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BenchmarkCompute is the pure part of one reconcile at N members: resolving a ring whose status
// is up to date, as most reconciles find it, with the StatefulSet's pods as the cache lists them.
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int32{10, 100, 1000, 2000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			ring := testRing(intstr.FromString("http"))
			sts := testStatefulSet(n, appsv1.OnDeleteStatefulSetStrategyType)
			sts.Status.UpdateRevision = oldRev
			pods := testPods(n)
			in := Input{Ring: ring, StatefulSet: sts, Pods: pods, Now: t0}
			first := Compute(in)
			ring.Status, in.Members = first.Status, first.Members
			if again := Compute(in); len(again.Delete) != 0 || again.Status.ReadyMembers != n {
				b.Fatalf("not a steady ring: %d to delete, %d ready", len(again.Delete), again.Status.ReadyMembers)
			}
			b.ReportAllocs()
			for b.Loop() {
				Compute(in)
			}
		})
	}
}
