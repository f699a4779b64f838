package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress reports how the run goes on stderr: a line rewritten in place
// every second on a terminal, a plain line every five seconds otherwise
// (a log file would not want a hundred carriage returns a minute).
type progress struct {
	w        io.Writer
	counts   *counters
	total    int64
	start    time.Time
	terminal bool
	every    time.Duration
}

func newProgress(w io.Writer, counts *counters, total int64, start time.Time) *progress {
	p := &progress{w: w, counts: counts, total: total, start: start, terminal: isTerminal(w), every: 5 * time.Second}
	if p.terminal {
		p.every = time.Second
	}
	return p
}

func (p *progress) run(ctx context.Context) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	lastSent, lastAt := int64(0), p.start
	for {
		select {
		case <-ctx.Done():
			if p.terminal {
				p.print(lastSent, lastAt, time.Now())
				fmt.Fprintln(p.w) // leave the last line in place
			}
			return
		case now := <-tick.C:
			lastSent, lastAt = p.print(lastSent, lastAt, now)
		}
	}
}

// print writes one report and returns the count and time it was made at,
// for the next report's rate.
func (p *progress) print(lastSent int64, lastAt, now time.Time) (int64, time.Time) {
	sent, dropped := p.counts.sent.Load(), p.counts.dropped.Load()
	rate := 0.0
	if d := now.Sub(lastAt).Seconds(); d > 0 {
		rate = float64(sent-lastSent) / d
	}
	line := fmt.Sprintf("sent %d  dropped %d  %.0f events/s  elapsed %s",
		sent, dropped, rate, now.Sub(p.start).Round(time.Second))
	if p.total > 0 {
		line = bar(sent+dropped, p.total) + "  " + line
	}
	if p.terminal {
		// \033[K clears what a longer previous line left behind.
		fmt.Fprintf(p.w, "\r%s\033[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	return sent, now
}

// bar draws done out of total as [#####-----] 50%.
func bar(done, total int64) string {
	const width = 30
	frac := min(float64(done)/float64(total), 1)
	n := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat("-", width-n), frac*100)
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
