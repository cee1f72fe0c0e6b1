package controlplane

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestFlagArgsMergesOverridesAndSorts(t *testing.T) {
	g := NewWithT(t)
	args := flagArgs(map[string]string{"v": "2", "leader-elect": "false"}, map[string]string{"v": "4", "controllers": "*"})
	g.Expect(args).To(Equal([]string{"--controllers=*", "--leader-elect=false", "--v=4"}))
}
