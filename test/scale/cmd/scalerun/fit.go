package main

// memoryModel is a gateway's memory for its rings: perRing bytes for every ring and perMember
// bytes for every member.
type memoryModel struct{ perRing, perMember float64 }

// fitMemory fits growth = perRing·R + perMember·R·N to the gateways-only points by least
// squares, growth being the RSS with the rings less the RSS without. It needs points of two
// different shapes (R·N not proportional to R); ok is false otherwise.
func fitMemory(points []gatewayMeasurement) (m memoryModel, ok bool) {
	var rr, rm, mm, ry, my float64 // sums of R², R·M, M², R·y, M·y with M = R·N
	for _, p := range points {
		r, members, y := float64(p.rings), float64(p.rings*p.members), float64(p.rssLoaded-p.rssNone)
		rr, rm, mm = rr+r*r, rm+r*members, mm+members*members
		ry, my = ry+r*y, my+members*y
	}
	det := rr*mm - rm*rm
	if det <= 1e-9*rr*mm {
		return m, false
	}
	return memoryModel{perRing: (ry*mm - my*rm) / det, perMember: (rr*my - rm*ry) / det}, true
}
