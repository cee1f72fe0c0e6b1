package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/stablering/stablering/gateway/resume"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
)

// spliced is a tunnel the gateway registers and starts: a *tunnel.Tunnel, or a *resume.Tunnel
// on a ring with resume on.
type spliced interface {
	splice.Tunnel
	Start(done func())
}

// resumeOffer is a WebSocket handshake on a ring with resume on, as the gateway sent it to
// the member: what it needs to open the connection again.
type resumeOffer struct {
	ring *route.Ring
	head []byte // the handshake head, as sent
}

// early is what each side sent after a handshake that a resumable tunnel relays itself, so
// that it counts every message.
type early struct {
	client, member []byte
}

// errNoMember is Redial's error when the member has no address in the current table.
var errNoMember = errors.New("the member has no address")

// resumeTunnel returns the resumable tunnel of a handshake that d routed, whose member
// answered 101 with hs; nil when the connection cannot be resumed (then the caller splices
// it as any other, after passing on e).
func (g *Gateway) resumeTunnel(offer *resumeOffer, hs resume.Handshake, d route.Decision, client net.Conn,
	member net.Conn, e early) *resume.Tunnel {
	ringID, ordinal := d.Ring.ID, d.Member.Ordinal
	opts := resume.Options{
		MaxBytes:    offer.ring.Resume.MaxBytes,
		MaxHold:     offer.ring.Resume.MaxHold,
		Budget:      g.resumeBudget,
		CloseGrace:  g.opts.CloseGrace,
		SendTimeout: g.opts.SendTimeout,
		Redial: func(ctx context.Context, c resume.Counts) (net.Conn, *bufio.Reader, error) {
			return g.redial(ctx, ringID, ordinal, resume.Request(offer.head, hs.Token, c), hs)
		},
		Resumed: func(held time.Duration) { g.metrics.resumed(ringID, held.Seconds()) },
		Failed: func(reason string, err error) {
			g.metrics.resumeFailed(ringID, reason)
			g.log.Info("resume failed; the client is closed with 1012", "ring", ringID, "member", ordinal,
				"reason", reason, "error", err)
		},
	}
	return resume.New(client, e.client, member, e.member, opts)
}

// redial sends head, a resume handshake, to the member's current address and checks that its
// answer negotiates what orig did.
func (g *Gateway) redial(ctx context.Context, ringID string, ordinal int32, head []byte,
	orig resume.Handshake) (net.Conn, *bufio.Reader, error) {
	var address string
	if ring := g.snap.Load().table.Ring(ringID); ring != nil {
		if m := ring.Member(ordinal); m != nil {
			address = m.Address
		}
	}
	if address == "" {
		return nil, nil, errNoMember
	}
	conn, err := g.dialer.Dial(ctx, "tcp", address)
	if err != nil {
		return nil, nil, err
	}
	br, err := resumeHandshake(conn, head, orig, time.Now().Add(g.opts.UpgradeTimeout))
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, br, nil
}

// resumeHandshake writes head on conn and reads the member's answer by deadline: a 101 that
// negotiates what orig did, else *resume.Refused or resume.ErrMismatch.
func resumeHandshake(conn net.Conn, head []byte, orig resume.Handshake, deadline time.Time) (*bufio.Reader, error) {
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write(head); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, handshakeBufferSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, &resume.Refused{Status: resp.StatusCode}
	case !switchedTo(resp, "websocket") || !resume.NewHandshake(resp.Header).Matches(orig):
		return nil, resume.ErrMismatch
	}
	return br, conn.SetDeadline(time.Time{})
}

// parseHandshake reads the handshake of a 101 answer's raw head.
func parseHandshake(head []byte) resume.Handshake {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return resume.Handshake{}
	}
	_ = resp.Body.Close()
	return resume.NewHandshake(resp.Header)
}
