package main

import (
	"math"
	"testing"
)

func TestFitMemory(t *testing.T) {
	at := func(r, n int, perRing, perMember float64) gatewayMeasurement {
		growth := perRing*float64(r) + perMember*float64(r*n)
		return gatewayMeasurement{gatewayPoint: gatewayPoint{rings: r, members: n}, rssNone: 20 << 20, rssLoaded: 20<<20 + int64(growth)}
	}
	points := []gatewayMeasurement{at(100, 100, 4096, 600), at(10, 1000, 4096, 600), at(100, 1000, 4096, 600)}
	got, ok := fitMemory(points)
	if !ok || math.Abs(got.perRing-4096) > 1 || math.Abs(got.perMember-600) > 0.01 {
		t.Errorf("fitMemory of exact points = %+v, %v; want 4096 per ring and 600 per member", got, ok)
	}

	// Noise: the least-squares fit leaves less squared error than the model the other points
	// give exactly, whose only error is the 1 MiB added.
	points[2].rssLoaded += 1 << 20
	got, ok = fitMemory(points)
	var squares float64
	for _, p := range points {
		e := float64(p.rssLoaded-p.rssNone) - got.perRing*float64(p.rings) - got.perMember*float64(p.rings*p.members)
		squares += e * e
	}
	if !ok || got.perMember <= 600 || squares >= float64(1<<20)*float64(1<<20) {
		t.Errorf("fitMemory with 1 MiB more at R=100, N=1000: %+v, %v, squared error %.3g; want more than 600 per member and less than 1 MiB²", got, ok, squares)
	}

	if _, ok := fitMemory(points[:1]); ok {
		t.Error("one point fitted two unknowns")
	}
	if _, ok := fitMemory([]gatewayMeasurement{at(10, 100, 1, 1), at(100, 100, 1, 1)}); ok {
		t.Error("points of one N (members proportional to rings) fitted")
	}
	if _, ok := fitMemory(nil); ok {
		t.Error("no points fitted")
	}
}
