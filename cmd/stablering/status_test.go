package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
)

// TestStatusTextRevisions pins the members table's REVISION column: each member's pod is found
// by the name the StatefulSet gives it, a member without a pod shows "-", and when the pods
// cannot be read the table says why under it.
func TestStatusTextRevisions(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	since := metav1.NewTime(now.Add(-90 * time.Second))
	sr := &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chat"}}
	sr.Spec.StatefulSetName = "chat"
	members := memberList{list: []v1alpha1.Member{
		{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing, LastTransitionTime: &since},
		{Ordinal: 1, State: v1alpha1.MemberRestarting, LastTransitionTime: &since},
	}}
	for _, tc := range []struct {
		name string
		revs revisions
		rows []string
		note string
	}{
		{
			name: "read",
			revs: revisions{byPod: map[string]string{"chat-0": "chat-6f7"}},
			rows: []string{`^0 +chat-0 +10\.0\.0\.1:8080 +Serving +chat-6f7 +90s$`, `^1 +chat-1 +- +Restarting +- +90s$`},
		},
		{
			name: "unreadable",
			revs: revisions{err: errors.New(`the pods of StatefulSet chat: pods is forbidden`)},
			rows: []string{`^0 +chat-0 +10\.0\.0\.1:8080 +Serving +- +90s$`, `^1 +chat-1 +- +Restarting +- +90s$`},
			note: "(revisions unknown: the pods of StatefulSet chat: pods is forbidden)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeRing(&b, "text", sr, members, tc.revs, now); err != nil {
				t.Fatal(err)
			}
			text := b.String()
			for _, row := range tc.rows {
				if !regexp.MustCompile("(?m)" + row).MatchString(text) {
					t.Errorf("status printed:\n%s\nwant a row matching %s", text, row)
				}
			}
			if got := strings.Contains(text, "revisions unknown"); got != (tc.note != "") || tc.note != "" && !strings.Contains(text, tc.note) {
				t.Errorf("status printed:\n%s\nwant the note %q", text, tc.note)
			}
		})
	}
}

// TestStatusTextMembersUnknown: when the ring's members do not assemble from its MemberSlices,
// the text says why in place of the members table, and still shows the rollout and the
// conditions.
func TestStatusTextMembersUnknown(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	sr := &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chat"}}
	sr.Spec.StatefulSetName = "chat"
	sr.Status.Rollout = &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutComplete, UpdateRevision: "chat-6f7"}
	sr.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "AllMembersServing",
		LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}}
	missing := errors.New("MemberSlice default/chat-members-0 of StableRing chat does not exist")
	var b strings.Builder
	if err := writeRing(&b, "text", sr, memberList{err: missing}, revisions{}, now); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"\n(members unknown: MemberSlice default/chat-members-0 of StableRing chat does not exist)\n",
		"\nRollout: Complete at revision chat-6f7\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status printed:\n%s\nwant %q", text, want)
		}
	}
	if !regexp.MustCompile(`(?m)^Ready +True +AllMembersServing +60s +$`).MatchString(text) || strings.Contains(text, "ORDINAL") {
		t.Errorf("status printed:\n%s\nwant the Ready condition and no members table", text)
	}
}
