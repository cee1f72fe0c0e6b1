package ring

import (
	"fmt"
	"strconv"
	"strings"
)

// The actions of the controller's events.
const (
	// ActionResolve is the action of events about ring membership.
	ActionResolve = "Resolve"
	// ActionRollout is the action of events about rollout batches.
	ActionRollout = "Rollout"
)

// Event is a Kubernetes event the controller emits about a StableRing once the status that
// carries the change is persisted.
type Event struct {
	// Type is Normal or Warning.
	Type string
	// Reason is a short CamelCase cause, e.g. BatchStarted.
	Reason string
	// Action is ActionResolve or ActionRollout.
	Action string
	// Message is for people.
	Message string
}

func memberEvent(eventType, reason, format string, args ...any) Event {
	return Event{Type: eventType, Reason: reason, Action: ActionResolve, Message: fmt.Sprintf(format, args...)}
}

// ordinals formats ordinals as "5, 4".
func ordinals(list []int32) string {
	parts := make([]string, len(list))
	for i, o := range list {
		parts[i] = strconv.Itoa(int(o))
	}
	return strings.Join(parts, ", ")
}
