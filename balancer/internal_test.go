package balancer

import (
	"slices"
	"strconv"
	"testing"
)

// TestKetamaMatchesRestyChash rebuilds the ring of lua-resty-balancer's own test (t/chash.t,
// "TEST 1: find": servers "server1", "server2" and "server3" with weights 10, 2 and 1, so 1600,
// 320 and 160 points) and checks that keys "1" .. "100000" spread exactly as resty.chash reports.
func TestKetamaMatchesRestyChash(t *testing.T) {
	var points []uint64
	for i, weight := range []int{10, 2, 1} {
		server := int32(i + 1)
		points = appendKetamaPoints(points, "server"+strconv.Itoa(int(server)), weight*DefaultVirtualNodes, server)
	}
	slices.Sort(points)
	r := &ketamaRing{points: points}

	got := map[int32]int{}
	for i := 1; i <= 100_000; i++ {
		got[r.owner(strconv.Itoa(i))]++
	}
	want := map[int32]int{1: 75588, 2: 16114, 3: 8298}
	if len(points) != 2080 || len(got) != len(want) || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("%d points, keys per server %v; resty.chash has 2080 points and %v", len(points), got, want)
	}
}

// TestKetamaFind checks the owner of hashes at and around the points, including below the first
// point and above the last, where resty.chash does not wrap around.
func TestKetamaFind(t *testing.T) {
	r := &ketamaRing{points: []uint64{10<<32 | 1, 20<<32 | 2, 20<<32 | 3, 30<<32 | 4}}
	for _, tc := range []struct {
		hash uint32
		want int
	}{
		{0, 0}, {9, 0}, {10, 0}, {19, 0}, {20, 2}, {29, 2}, {30, 3}, {1<<32 - 1, 3},
	} {
		if got := r.find(tc.hash); got != tc.want {
			t.Errorf("find(%d) = %d, want %d", tc.hash, got, tc.want)
		}
	}
}

func TestMaglevTableSize(t *testing.T) {
	for _, tc := range []struct{ members, want int }{
		{1, 65537}, {655, 65537}, {656, 65609}, {1000, 100003}, {MaxMembers, 1000003},
	} {
		if got := maglevTableSize(tc.members); got != tc.want {
			t.Errorf("maglevTableSize(%d) = %d, want %d", tc.members, got, tc.want)
		}
	}
}

// TestMaglevTableBalance checks the population algorithm's guarantee: members own table shares
// that differ by at most one entry.
func TestMaglevTableBalance(t *testing.T) {
	members := []int32{0, 1, 2, 3, 4, 5, 6}
	r := newMaglev(members)
	count := map[int32]int{}
	for _, o := range r.table {
		count[o]++
	}
	lo, hi := len(r.table), 0
	for _, m := range members {
		lo, hi = min(lo, count[m]), max(hi, count[m])
	}
	if len(count) != len(members) || hi-lo > 1 {
		t.Errorf("table entries per member %v, want every member within one entry of the others", count)
	}
}
