package nodesim

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestLastLines(t *testing.T) {
	g := NewWithT(t)
	log := []byte("one\ntwo\nthree\n")
	g.Expect(string(lastLines(log, 0))).To(BeEmpty())
	g.Expect(string(lastLines(log, 1))).To(Equal("three\n"))
	g.Expect(string(lastLines(log, 2))).To(Equal("two\nthree\n"))
	g.Expect(string(lastLines(log, 5))).To(Equal("one\ntwo\nthree\n"))
	g.Expect(string(lastLines([]byte("one\ntwo"), 1))).To(Equal("two"))
}
