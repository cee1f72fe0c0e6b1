package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// runArgs runs the lookup command with args and returns its exit code, stdout and stderr.
func runArgs(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"lookup"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// Most expected ordinals are golden vectors of package balancer (golden_test.go).
func TestLookupText(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default Jump", []string{"--replicas", "6", "room-42", ""}, "room-42 1\n 5\n"},
		{"algorithm names are case-insensitive", []string{"--algorithm", "ketama", "--start", "3", "--replicas", "10", ""}, " 11\n"},
		{"start", []string{"--algorithm", "Maglev", "--start", "3", "--replicas", "10", "room-42"}, "room-42 3\n"},
		{"unusable owner fails over", []string{"--replicas", "10", "--unusable", "1", "room-42"}, "room-42 3\n"},
		{"unusable list", []string{"--algorithm", "Rendezvous", "--replicas", "10", "--unusable", "2, 3", "room-42"}, "room-42 7\n"},
		{"unusable flag repeated", []string{"--algorithm", "Rendezvous", "--replicas", "10", "--unusable", "2", "--unusable", "3", "room-42"}, "room-42 7\n"},
		{"flags after keys", []string{"room-42", "--algorithm", "Ketama", "--replicas", "10", "room-7"}, "room-42 8\nroom-7 0\n"},
		{"keys after --", []string{"--replicas", "6", "--", "room-42", "--replicas"}, "room-42 1\n--replicas 3\n"},
		{"virtual nodes", []string{"--algorithm", "Ketama", "--virtual-nodes", "160", "--replicas", "6", "room-7"}, "room-7 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(tc.args...)
			if code != 0 || stdout != tc.want || stderr != "" {
				t.Errorf("lookup %q = exit %d, stdout %q, stderr %q; want exit 0, stdout %q", tc.args, code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestLookupJSON(t *testing.T) {
	code, stdout, stderr := runArgs("--replicas", "10", "--unusable", "1", "-o", "json", "room-42", "room-7", "room-1")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []lookupResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output %q is not a JSON array of results: %v", stdout, err)
	}
	want := []lookupResult{{"room-42", 3, 1}, {"room-7", 7, 1}, {"room-1", 9, 9}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !strings.Contains(stdout, `"key": "room-42"`) || !strings.Contains(stdout, `"owner": 1`) {
		t.Errorf("output %q lacks the key and owner fields", stdout)
	}
}

func TestLookupErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no keys", []string{"--replicas", "3"}, "no keys given"},
		{"no replicas", []string{"room"}, "--replicas must be from 1 to 10000 (got 0)"},
		{"negative replicas", []string{"--replicas", "-2", "room"}, "--replicas must be from 1 to 10000 (got -2)"},
		{"too many replicas", []string{"--replicas", "3000000000", "room"}, "--replicas must be from 1 to 10000 (got 3000000000)"},
		{"unknown algorithm", []string{"--algorithm", "ring_hash", "--replicas", "3", "room"}, `--algorithm: balancer: unknown algorithm "ring_hash"`},
		{"negative start", []string{"--start", "-1", "--replicas", "3", "room"}, "--start -1 with --replicas 3 is outside"},
		{"ordinals overflow", []string{"--start", "2147483647", "--replicas", "2", "room"}, "is outside the ordinals"},
		{"bad unusable list", []string{"--replicas", "3", "--unusable", "1,x", "room"}, `invalid argument "1,x" for "--unusable" flag: "x" is not an ordinal`},
		{"empty unusable entry", []string{"--replicas", "3", "--unusable", "1,", "room"}, `"" is not an ordinal`},
		{"unusable not a member", []string{"--start", "2", "--replicas", "3", "--unusable", "5", "room"}, "--unusable: 5 is not a member (the members are 2 to 4)"},
		{"every member unusable", []string{"--replicas", "2", "--unusable", "0,1", "room"}, "--unusable lists every member"},
		{"bad output", []string{"--replicas", "3", "-o", "yaml", "room"}, `-o must be text or json (got "yaml")`},
		{"virtual nodes for Jump", []string{"--replicas", "3", "--virtual-nodes", "10", "room"}, "virtualNodes applies only to the Ketama algorithm"},
		{"virtual nodes out of range", []string{"--algorithm", "Ketama", "--replicas", "3", "--virtual-nodes", "20000", "room"}, "virtualNodes 20000 is out of range"},
		{"unknown flag", []string{"--replica", "3", "room"}, "unknown flag: --replica"},
		{"flag without value", []string{"room", "--replicas"}, "flag needs an argument: --replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "usage: stablering lookup") {
				t.Errorf("lookup %q = exit %d, stdout %q, stderr %q; want exit 2 and stderr naming %q with a usage hint",
					tc.args, code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestLookupHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := runArgs(arg)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "usage: stablering lookup") || !strings.Contains(stdout, "--unusable ordinals") {
			t.Errorf("lookup %s = exit %d, stdout %q, stderr %q; want exit 0 and the usage with flags on stdout", arg, code, stdout, stderr)
		}
	}
}
