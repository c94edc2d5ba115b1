// Package abuse is parley's abuse suite: one test per way a hostile client
// was found to spend more of the server, or of other users, than its
// requests look like (docs/reliability.md lists the promises, each with its
// test). Every test runs the attack against a real server on loopback,
// bounded in count and time, and checks the promise.
//
// Two forms. `make test` runs the short form: the attack at a scale that
// proves the mechanism (the refusal, the cap, the close code) on a loaded
// 2-core machine, with no wall-clock assertion. `make abuse` runs the full
// form (PARLEY_ABUSE=full): the attack at the scale it was found at, and
// also the promises about other users' latency, which are timings and so
// are only asserted there, and without the race detector, which
// multiplies the server's CPU cost (make test runs the short form under
// -race).
package abuse
