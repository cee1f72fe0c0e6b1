package source_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/source"
)

// The user guide's "A gateway outside Kubernetes" has users export the cluster's rings and their
// MemberSlices with kubectl and hand the file to a gateway: this runs that command and routes by
// its output.
var _ = Describe("a rings file exported with kubectl get -o yaml", func() {
	It("parses, with every ring's members from its MemberSlices, and routes as the cluster's rings do", func(ctx SpecContext) {
		sr := createRing(ctx, "default", "exported", nil, []string{member(0), member(1)})

		kubectl := exec.CommandContext(ctx, filepath.Join(cp.BinDir, "kubectl"), "--kubeconfig", cp.KubeconfigPath,
			"get", "stablerings,memberslices", "--all-namespaces", "-o", "yaml")
		out, err := kubectl.Output()
		Expect(err).NotTo(HaveOccurred())
		rings, err := source.Parse(out)
		Expect(err).NotTo(HaveOccurred())
		var got *int
		for i := range rings {
			if rings[i].Namespace == "default" && rings[i].Name == "exported" {
				got = &i
			}
		}
		Expect(got).NotTo(BeNil(), "the export lacks default/exported:\n%s", out)
		Expect(rings[*got].Members).To(Equal(sr.Members))

		g := gateway.New(gateway.Options{MemberHeader: "X-StableRing-Member"})
		g.Update(rings)
		srv := httptest.NewServer(g)
		DeferCleanup(srv.Close)
		for _, o := range []int32{0, 1} {
			code, from, _ := send(srv.URL, "exported.example.com", ownedBy(sr, o))
			Expect(code).To(Equal(http.StatusOK))
			Expect(from).To(Equal(fmt.Sprint(o)))
		}
	})
})
