// Package subcmd is what parley's operator commands (`parley user`,
// `parley room`) share: their flags, which may come before or after the
// operands.
package subcmd

import (
	"flag"
	"fmt"
	"io"
)

// FlagSet returns the flag set of `parley NAME`, printing usage on errOut.
func FlagSet(name, usage string, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() { fmt.Fprint(errOut, usage) }
	return fs
}

// Parse parses args into fs and returns the operands. Flags may come
// before or after them: Go's flag package stops at the first operand, so
// what follows it is parsed too. -h gives flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var operands []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		operands = append(operands, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, err
		}
	}
	return operands, nil
}
