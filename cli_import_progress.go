package main

// The import's progress: a bar on a terminal, lines otherwise.

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// importProgress shows rows sent, operations ready and rows failed: a bar
// redrawn in place on a terminal, a line every few seconds otherwise.
type importProgress struct {
	im    *importer
	w     io.Writer
	mode  string // bar, lines, none
	total int
	began time.Time
	mu    sync.Mutex
}

func newImportProgress(im *importer, w io.Writer, total int) *importProgress {
	mode := im.cfg.progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(w) {
			mode = "bar"
		}
	}
	return &importProgress{im: im, w: w, mode: mode, total: total, began: time.Now()}
}

// say prints a line of its own.
func (p *importProgress) say(s string) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "bar" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, "import:", s)
}

// start draws progress until the returned function is called, which draws
// it a last time.
func (p *importProgress) start() (stop func()) {
	if p.mode == "none" {
		return func() {}
	}
	p.began = time.Now()
	every := 5 * time.Second
	if p.mode == "bar" {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *importProgress) draw(last bool) {
	sent, ready, failed := p.im.sent.Load(), p.im.ready.Load(), p.im.failed.Load()
	rate := float64(ready) / max(time.Since(p.began).Seconds(), 0.001)
	limited := ""
	if n := p.im.limited.Load(); n > 0 {
		limited = fmt.Sprintf(" 429×%d", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "lines" {
		fmt.Fprintf(p.w, "import: %d/%d rows: %d sent, %d ready, %d failed (%.0f rows/s%s)\n",
			ready+failed, p.total, sent, ready, failed, rate, strings.Replace(limited, " 429×", ", 429s met: ", 1))
		return
	}
	// Short enough for an 80-column terminal: a wrapped line cannot be
	// redrawn in place.
	const width = 20
	filled := 0
	if p.total > 0 {
		filled = int(width * (ready + failed) / int64(p.total))
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	fmt.Fprintf(p.w, "\r\033[K%s %d/%d sent %d ready %d failed %d %.0f/s%s",
		bar, ready+failed, p.total, sent, ready, failed, rate, limited)
	if last {
		fmt.Fprintln(p.w)
	}
}
