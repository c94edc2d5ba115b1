package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// progress shows what a run is doing on stderr: one line redrawn in place
// when stderr is a terminal, plain periodic lines otherwise.
type progress struct {
	w      io.Writer
	tty    bool
	status atomic.Pointer[func() (float64, string)]
	stopCh chan struct{}
	done   chan struct{}
	mu     sync.Mutex // serialises drawing with log lines
	drawn  bool
	start  time.Time
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// startProgress starts drawing; quiet draws nothing. stop ends it.
func startProgress(quiet bool) *progress {
	p := &progress{w: os.Stderr, tty: isTerminal(os.Stderr), stopCh: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	if quiet {
		close(p.done)
		return p
	}
	every := 2 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	go func() { // ends on stop
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stopCh:
				p.clear()
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// set replaces the status function: it returns the fraction done of the
// current stage (0..1, negative if unknown) and a one-line description.
func (p *progress) set(f func() (float64, string)) { p.status.Store(&f) }

func (p *progress) draw() {
	f := p.status.Load()
	if f == nil {
		return
	}
	frac, text := (*f)()
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start).Truncate(100 * time.Millisecond)
	if !p.tty {
		fmt.Fprintf(p.w, "bench: %6s  %s\n", el, text)
		return
	}
	const width = 24
	bar := strings.Repeat(" ", width)
	if frac >= 0 {
		n := int(min(frac, 1) * width)
		bar = strings.Repeat("#", n) + strings.Repeat("-", width-n)
	}
	line := fmt.Sprintf("[%s] %6s  %s", bar, el, text)
	if cols := termCols(); cols > 10 && len(line) > cols-1 {
		line = line[:cols-1]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// logf prints a line without garbling the progress bar.
func (p *progress) logf(format string, args ...any) {
	p.clear()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench: "+format+"\n", args...)
}

func (p *progress) stop() {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	<-p.done
}

func termCols() int {
	ws, err := unix.IoctlGetWinsize(int(os.Stderr.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
