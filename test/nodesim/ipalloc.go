package nodesim

import (
	"fmt"
	"net/netip"
)

// IPAllocator hands out the addresses of an IPv4 loopback prefix in turn: an address is never
// given out while it is held, and a released one comes back only after every other free address
// was used, so a recreated pod gets a new IP as in a real cluster. The network and broadcast
// addresses are never handed out. An IPAllocator is not safe for concurrent use.
type IPAllocator struct {
	prefix  netip.Prefix
	next    netip.Addr
	byOwner map[string]netip.Addr
	held    map[netip.Addr]bool
}

// NewIPAllocator returns an allocator for cidr, an IPv4 prefix inside 127.0.0.0/8 no smaller
// than a /30 (e.g. 127.1.0.0/16).
func NewIPAllocator(cidr string) (*IPAllocator, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR: %w", err)
	}
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() || !prefix.Addr().IsLoopback() || prefix.Bits() < 8 || prefix.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %s: want an IPv4 prefix inside 127.0.0.0/8, /30 or larger", cidr)
	}
	return &IPAllocator{
		prefix:  prefix,
		next:    prefix.Addr().Next(),
		byOwner: map[string]netip.Addr{},
		held:    map[netip.Addr]bool{},
	}, nil
}

// Allocate returns the address held by owner, giving it the next free one if it holds none.
func (a *IPAllocator) Allocate(owner string) (string, error) {
	if ip, ok := a.byOwner[owner]; ok {
		return ip.String(), nil
	}
	ip := a.next
	for range a.size() {
		if !a.held[ip] {
			a.hold(owner, ip)
			a.next = a.after(ip)
			return ip.String(), nil
		}
		ip = a.after(ip)
	}
	return "", fmt.Errorf("pod CIDR %s is exhausted", a.prefix)
}

// Reserve gives ip to owner if it is a usable address of the prefix that nobody else holds, and
// reports whether owner now holds ip. It adopts addresses handed out before, e.g. by an earlier
// simulator.
func (a *IPAllocator) Reserve(owner, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !a.usable(addr) {
		return false
	}
	if held, ok := a.byOwner[owner]; ok {
		return held == addr
	}
	if a.held[addr] {
		return false
	}
	a.hold(owner, addr)
	return true
}

// Release frees the address held by owner, if any.
func (a *IPAllocator) Release(owner string) {
	if ip, ok := a.byOwner[owner]; ok {
		delete(a.byOwner, owner)
		delete(a.held, ip)
	}
}

func (a *IPAllocator) hold(owner string, ip netip.Addr) {
	a.byOwner[owner] = ip
	a.held[ip] = true
}

// size is the number of usable addresses.
func (a *IPAllocator) size() int {
	return 1<<(32-a.prefix.Bits()) - 2
}

// usable reports whether ip is in the prefix and neither its network nor its broadcast address.
func (a *IPAllocator) usable(ip netip.Addr) bool {
	return a.prefix.Contains(ip) && ip != a.prefix.Addr() && a.prefix.Contains(ip.Next())
}

// after returns the usable address following ip, wrapping around at the end of the prefix.
func (a *IPAllocator) after(ip netip.Addr) netip.Addr {
	if next := ip.Next(); a.usable(next) {
		return next
	}
	return a.prefix.Addr().Next()
}
