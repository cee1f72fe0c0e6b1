package balancer_test

import (
	"fmt"

	"github.com/stablering/stablering/balancer"
)

// restarting is a Usable: the gateway keeps one per ring and passes a pointer to it.
type restarting struct{ ordinal int32 }

func (r *restarting) Usable(ordinal int32) bool { return ordinal != r.ordinal }

func Example() {
	ring, err := balancer.New(balancer.Config{
		Algorithm: balancer.Jump,
		Members:   []int32{0, 1, 2, 3, 4, 5}, // the ordinals of chat-0 ... chat-5
	})
	if err != nil {
		panic(err)
	}
	owner, _ := ring.Owner("room-42")
	fmt.Println("owner:", owner)

	// While the owner restarts, the room's failover member takes it (with policy Failover).
	picked, _ := ring.Pick("room-42", &restarting{ordinal: owner})
	fmt.Println("while the owner restarts:", picked)
	// Output:
	// owner: 1
	// while the owner restarts: 3
}
