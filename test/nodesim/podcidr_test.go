package nodesim

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestClaimPodCIDRSkipsHeldPrefixes(t *testing.T) {
	g := NewWithT(t)
	first, lock1, err := claimPodCIDR()
	g.Expect(err).NotTo(HaveOccurred())
	second, lock2, err := claimPodCIDR()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(second).NotTo(Equal(first), "a prefix is held until its lock is closed")
	g.Expect(lock1.Close()).To(Succeed())
	again, lock3, err := claimPodCIDR()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).NotTo(Equal(second), "still held")
	g.Expect(lock2.Close()).To(Succeed())
	g.Expect(lock3.Close()).To(Succeed())
}
