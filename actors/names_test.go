package actors_test

import (
	"testing"

	"parley/actors"
)

func TestSkeletonCollapsesLookAlikes(t *testing.T) {
	same := [][]string{
		{"alice", "ALICE", "aIice", "al1ce", "AL1CE", "a1ice"},
		{"mary", "rnary", "RNary"},
		{"wendy", "vvendy"},
		{"bob", "b0b", "BOB"},
		{"sam_s", "sam-s", "5am-5"},
		{"dave", "clave"},
	}
	for _, group := range same {
		want := actors.Skeleton(group[0])
		for _, n := range group[1:] {
			if got := actors.Skeleton(n); got != want {
				t.Errorf("Skeleton(%q) = %q, want %q (as %q)", n, got, want, group[0])
			}
		}
	}
	different := [][2]string{{"alice", "alicia"}, {"bob", "rob"}, {"mary", "marty"}}
	for _, p := range different {
		if actors.Skeleton(p[0]) == actors.Skeleton(p[1]) {
			t.Errorf("Skeleton(%q) == Skeleton(%q) = %q, want them apart", p[0], p[1], actors.Skeleton(p[0]))
		}
	}
}

func FuzzSkeleton(f *testing.F) {
	for _, s := range []string{"alice", "rnrn", "vvv", "I1l|", "clcl", "a_b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s := actors.Skeleton(name)
		if got := actors.Skeleton(s); got != s {
			t.Fatalf("Skeleton is not idempotent: Skeleton(%q) = %q, Skeleton(%q) = %q", name, s, s, got)
		}
	})
}
