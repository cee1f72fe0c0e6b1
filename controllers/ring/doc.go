// Package ring holds the StableRing controller's decisions as pure functions of what it
// observes: which pod each member is, the member states, the ring version gateways compare, the
// rollout plan (which pods to delete, and when), the conditions and the events. Nothing here talks
// to the API server, so every rule is unit-tested without a cluster; package controllers feeds
// Compute from its cache and carries out the Result.
package ring
