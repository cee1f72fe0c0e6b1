package v1alpha1

// Joined reports whether a member in state s is on the hash ring: every state but Pending. A
// member joins when its pod is first Ready and leaves only when the StatefulSet no longer has its
// ordinal, so a state this version does not know counts as joined too: its rooms stay where they
// are, and gateways hold them rather than guess.
func (s MemberState) Joined() bool { return s != MemberPending }
