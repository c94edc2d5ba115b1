package actors

import (
	"context"
	"strings"
)

// NameRegistry tells the core which names belong to accounts, so that a
// guest cannot take one, nor one that looks like one. The accounts package
// implements it; a Hub without accounts has none (Config.Names nil).
type NameRegistry interface {
	// Registered reports whether an account's name has this skeleton
	// (see Skeleton).
	Registered(ctx context.Context, skeleton string) (bool, error)
}

// skeletonPairs are the look-alikes Skeleton collapses, applied in this
// order, after lower-casing: first the digit and punctuation stand-ins for a
// letter, then the letter pairs that read as one letter in most fonts.
var skeletonPairs = strings.NewReplacer(
	"0", "o",
	"1", "l",
	"i", "l",
	"5", "s",
	"_", "-",
)

var skeletonLigatures = strings.NewReplacer(
	"rn", "m",
	"vv", "w",
	"cl", "d",
)

// Skeleton is the form under which two names count as the same name: names
// that a reader could take for each other (case aside, "al1ce" for "alice",
// "rnary" for "mary", "a_b" for "a-b") have one skeleton. Names are unique by
// skeleton, among the connected and the registered alike, so that nobody can
// pass for somebody else.
func Skeleton(name string) string {
	return skeletonLigatures.Replace(skeletonPairs.Replace(strings.ToLower(name)))
}
