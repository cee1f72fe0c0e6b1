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
// carries the change is persisted. Compute returns at most one event per reason: client-go folds
// events with the same reason about the same object version into one series that keeps the
// first message, so an event names every member a change affects.
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

// maxOrdinalsText bounds the ordinals a message lists, well within the 1024 bytes the API server
// allows an event's note.
const maxOrdinalsText = 600

// memberOrdinals names members by ordinal, with the noun in the right number: "member 3" or
// "members 5, 4". A list longer than maxOrdinalsText has its runs of consecutive ordinals written
// as ranges ("members 0-199"), so it still names every member; only a list that is too long even
// so ends with "and N more".
func memberOrdinals(list []int32) string {
	text := ordinals(list)
	if len(text) > maxOrdinalsText {
		text = ordinalRanges(list)
	}
	return plural(len(list), "member", "members") + " " + text
}

// ordinalRanges formats ordinals as "0-99, 120, 121, 130-139": runs of three or more consecutive
// ordinals, ascending or descending in the order given, become ranges. The text is at most about
// maxOrdinalsText long; what does not fit is counted as "and N more".
func ordinalRanges(list []int32) string {
	var b strings.Builder
	for i := 0; i < len(list); {
		end := i + 1 // the run is list[i:end]
		if end < len(list) && (list[end] == list[i]+1 || list[end] == list[i]-1) {
			step := list[end] - list[i]
			for end < len(list) && list[end] == list[end-1]+step {
				end++
			}
		}
		if end-i < 3 {
			end = i + 1
		}
		part := strconv.Itoa(int(list[i]))
		if end-i > 1 {
			part += "-" + strconv.Itoa(int(list[end-1]))
		}
		if b.Len()+len(part) > maxOrdinalsText {
			fmt.Fprintf(&b, "and %d more", len(list)-i)
			break
		}
		b.WriteString(part)
		if end < len(list) {
			b.WriteString(", ")
		}
		i = end
	}
	return b.String()
}

// plural returns one when n is 1 and many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// count returns n and the noun in the right number: "1 member", "3 members".
func count(n int, noun string) string {
	return strconv.Itoa(n) + " " + plural(n, noun, noun+"s")
}
