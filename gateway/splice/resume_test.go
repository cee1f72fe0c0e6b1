package splice_test

import (
	"testing"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
	"github.com/stablering/stablering/gateway/wsframe"
)

// fakeResumable is a resumable tunnel that records what the registry asks of it: held from
// Detach until Reattach, as a resume.Tunnel whose resume succeeds.
type fakeResumable struct {
	fakeTunnel
	detaches, reattaches int
	held                 bool
}

func (f *fakeResumable) Detach()    { f.detaches++; f.held = true }
func (f *fakeResumable) Reattach()  { f.reattaches++; f.held = false }
func (f *fakeResumable) Held() bool { return f.held }

// resumeRing is ring with resume on and the given states.
func resumeRing(states map[int32]v1alpha1.MemberState) resolved.Ring {
	sr := ring(states)
	sr.Spec.Connections.Resume = &v1alpha1.ResumeSpec{MaxBufferedBytes: 1 << 16, MaxSeconds: 120}
	return sr
}

// TestResumeThroughARestart checks the registry's side of resume: a Draining member's
// resumable connection is detached at once, not closed; it is kept while the member is
// Restarting and reattached when it is Serving again; a member that goes Down instead closes it
// with 1012, counted as a failed resume.
func TestResumeThroughARestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after v1alpha1.MemberState // the state after Restarting
	}{
		{"serving again", v1alpha1.MemberServing},
		{"down", v1alpha1.MemberDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serving := route.Build([]resolved.Ring{resumeRing(nil)}, nil, t0)
			f := newFixture(serving)
			key := keysOf(t, serving, 1, 1)[0]
			tun := &fakeResumable{fakeTunnel: fakeTunnel{key: key, closes: f.closes}}
			f.reg.Add(&splice.Conn{Tunnel: tun, Ring: "default/chat", Key: key, Ordinal: 1, Label: "1"}, false, serving)

			prev := serving
			step := func(state v1alpha1.MemberState) {
				table := route.Build([]resolved.Ring{resumeRing(map[int32]v1alpha1.MemberState{1: state})}, prev, t0)
				prev = table
				f.view = splice.View{Table: table}
				f.reg.Reconcile(f.view, []string{"default/chat"}, f.clk.Now())
				f.clk.Step(0)
			}
			step(v1alpha1.MemberDraining)
			step(v1alpha1.MemberRestarting)
			if tun.detaches != 1 || tun.reattaches != 0 || len(f.closes) != 0 || f.clk.HasWaiters() {
				t.Fatalf("through the drain and restart: %d detaches, %d reattaches, %d closes, close scheduled %v; "+
					"want one detach and nothing else", tun.detaches, tun.reattaches, len(f.closes), f.clk.HasWaiters())
			}
			step(tc.after)
			if tc.after == v1alpha1.MemberServing {
				if tun.reattaches != 1 || len(f.closes) != 0 || len(f.failed) != 0 {
					t.Fatalf("serving again: %d reattaches, %d closes, %d failures; want one reattach", tun.reattaches, len(f.closes), len(f.failed))
				}
				return
			}
			c := <-f.closes
			if fired, failed := <-f.fired, <-f.failed; c.code != wsframe.CloseServiceRestart || fired != "down" || failed != "down" {
				t.Fatalf("member down: closed with %d, counted %q, failed %q; want 1012 counted as down", c.code, fired, failed)
			}
		})
	}
}
