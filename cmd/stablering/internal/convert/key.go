package convert

import (
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"strings"

	"github.com/stablering/stablering/api/v1alpha1"
)

// parsedKey is the room key an upstream-hash-by value converts to.
type parsedKey struct {
	spec     v1alpha1.KeySpec // pathSegment is left to the path
	variable string           // the nginx variable, without $
	literal  bool             // the value has text besides the variable
}

// variableRE matches an nginx variable reference: $name or ${name}.
var variableRE = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))`)

// Variables the key cannot be read from, by why.
var (
	clientVariables = []string{"remote_addr", "binary_remote_addr", "realip_remote_addr", "proxy_add_x_forwarded_for", "remote_user"}
	hostVariables   = []string{"host", "http_host", "server_name", "hostname"}
	randomVariables = []string{"request_id", "remote_port", "connection", "connection_requests", "msec", "time_local", "time_iso8601", "pid", "request_time", "binary_remote_port"}
	queryVariables  = []string{"args", "query_string", "is_args"}
	uriVariables    = []string{"uri", "document_uri", "request_uri"}
)

// parseKey converts an upstream-hash-by value: exactly one nginx variable that a StableRing key
// source reads, with or without text around it.
func parseKey(value string) (parsedKey, error) {
	refs := variableRE.FindAllStringSubmatch(value, -1)
	switch len(refs) {
	case 0:
		return parsedKey{}, errors.New("no nginx variable: every request had the same key, so one pod took them all")
	case 1:
	default:
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = "$" + r[1] + r[2]
		}
		return parsedKey{}, fmt.Errorf("combines %d variables (%s): a ring's key is one header, query parameter, cookie or path segment", len(refs), strings.Join(names, ", "))
	}
	name := refs[0][1] + refs[0][2]
	k := parsedKey{variable: name, literal: len(refs[0][0]) != len(strings.TrimSpace(value))}
	switch {
	case strings.HasPrefix(name, "arg_") && len(name) > len("arg_"):
		k.spec = v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: strings.TrimPrefix(name, "arg_")}
	case strings.HasPrefix(name, "cookie_") && len(name) > len("cookie_"):
		k.spec = v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: strings.TrimPrefix(name, "cookie_")}
	case slices.Contains(hostVariables, name):
		return k, fmt.Errorf("$%s is the request's host: a ring routes by host and keys within it; give each host a key of its own (a header, query parameter, cookie or path segment)", name)
	case strings.HasPrefix(name, "http_") && len(name) > len("http_"):
		// nginx names $http_x_room_id after the header X-Room-Id: lower case, '-' as '_'.
		header := strings.ReplaceAll(strings.TrimPrefix(name, "http_"), "_", "-")
		k.spec = v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: textproto.CanonicalMIMEHeaderKey(header)}
	case slices.Contains(uriVariables, name):
		k.spec = v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath}
	case slices.Contains(clientVariables, name):
		return k, fmt.Errorf("$%s is the client's address: a ring keys rooms, which many clients share, and a client's address changes as it moves between networks; send the room in a header, query parameter, cookie or path segment", name)
	case slices.Contains(randomVariables, name):
		return k, fmt.Errorf("$%s changes from request to request, so nginx spread requests at random: there is nothing to keep together", name)
	case slices.Contains(queryVariables, name):
		return k, fmt.Errorf("$%s is the whole query string: a ring reads one query parameter; hash on $arg_NAME of the parameter that holds the room", name)
	default:
		return k, fmt.Errorf("$%s is computed by nginx and no ring key source reads it", name)
	}
	return k, nil
}
