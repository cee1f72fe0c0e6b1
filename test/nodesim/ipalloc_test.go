package nodesim

import (
	"testing"

	. "github.com/onsi/gomega"
)

func newAllocator(t *testing.T, cidr string) *IPAllocator {
	t.Helper()
	a, err := NewIPAllocator(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func allocate(t *testing.T, a *IPAllocator, owner string) string {
	t.Helper()
	ip, err := a.Allocate(owner)
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestNewIPAllocatorRejectsNonLoopbackAndTinyPrefixes(t *testing.T) {
	for _, cidr := range []string{"", "bad", "10.1.0.0/16", "::1/128", "126.0.0.0/7", "127.1.0.0/31"} {
		if _, err := NewIPAllocator(cidr); err == nil {
			t.Errorf("NewIPAllocator(%q) succeeded", cidr)
		}
	}
}

func TestAllocateHandsOutAddressesInTurn(t *testing.T) {
	g := NewWithT(t)
	a := newAllocator(t, "127.1.2.3/16") // host bits are ignored
	g.Expect(allocate(t, a, "a")).To(Equal("127.1.0.1"))
	g.Expect(allocate(t, a, "b")).To(Equal("127.1.0.2"))
	g.Expect(allocate(t, a, "a")).To(Equal("127.1.0.1"), "an owner keeps its address")
}

func TestReleasedAddressComesBackLast(t *testing.T) {
	g := NewWithT(t)
	a := newAllocator(t, "127.1.0.0/29") // 6 usable: .1 to .6
	g.Expect(allocate(t, a, "pod-0")).To(Equal("127.1.0.1"))
	g.Expect(allocate(t, a, "pod-1")).To(Equal("127.1.0.2"))
	a.Release("pod-0")
	g.Expect(allocate(t, a, "pod-0-recreated")).To(Equal("127.1.0.3"), "a recreated pod gets a new IP")
	for _, want := range []string{"127.1.0.4", "127.1.0.5", "127.1.0.6", "127.1.0.1"} {
		g.Expect(allocate(t, a, want)).To(Equal(want), "wraps around, skipping the broadcast address")
	}
	_, err := a.Allocate("one-too-many")
	g.Expect(err).To(MatchError(ContainSubstring("exhausted")), "never hands out a held address")
}

func TestReserveAdoptsFreeUsableAddresses(t *testing.T) {
	g := NewWithT(t)
	a := newAllocator(t, "127.1.0.0/24")
	g.Expect(a.Reserve("a", "127.1.0.7")).To(BeTrue())
	g.Expect(a.Reserve("a", "127.1.0.7")).To(BeTrue(), "idempotent")
	g.Expect(a.Reserve("a", "127.1.0.8")).To(BeFalse(), "an owner holds one address")
	g.Expect(a.Reserve("b", "127.1.0.7")).To(BeFalse(), "held by a")
	for _, ip := range []string{"", "bad", "127.1.0.0", "127.1.0.255", "127.2.0.1"} {
		g.Expect(a.Reserve("c", ip)).To(BeFalse(), ip)
	}
	g.Expect(allocate(t, a, "c")).To(Equal("127.1.0.1"), "reserving does not move the cursor")
	a.Release("a")
	g.Expect(a.Reserve("b", "127.1.0.7")).To(BeTrue(), "released")
}
