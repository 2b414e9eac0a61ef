package main

// Sending the valid rows: venues and ticket types resolved by name, one
// create per row with its Idempotency-Key, the wait on its operation, and
// the summary and report.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// Row outcomes.
const (
	outcomeCreated     = "created"
	outcomePresent     = "already present"
	outcomeFailed      = "failed"
	outcomeInterrupted = "not finished"
)

// Codes of failures found on this side (the others are the API's problem
// types and the operations' error codes).
const (
	codeInvalidRow  = "invalid_row"
	codeVenueZone   = "venue_time_zone_mismatch"
	codeWaitTimeout = "wait_timeout"
	codeNetwork     = "network_error"
	codeNoOperation = "no_operation_header"
)

type rowResult struct {
	Line        int    `json:"line"`
	Outcome     string `json:"outcome"`
	EventID     uint64 `json:"event_id,omitempty"`
	OperationID uint64 `json:"operation_id,omitempty"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message,omitempty"`
}

type importer struct {
	cfg    *importConfig
	file   *importFile
	name   string
	c      *client.Client
	stderr io.Writer

	venueIDs map[string]uint64 // by name
	venueErr map[string]rowResult
	ttIDs    map[string]uint64
	ttErr    map[string]rowResult

	sent, ready, failed atomic.Int64
	limited             atomic.Int64 // 429 answers met
}

func (im *importer) noteRetry(e client.RetryEvent) {
	if e.Status == 429 {
		im.limited.Add(1)
	}
}

func (im *importer) run(ctx context.Context, stdout io.Writer) error {
	started := time.Now()
	if _, err := im.c.Company(ctx); err != nil {
		return fmt.Errorf("%s: %w", im.cfg.url, err)
	}
	prog := newImportProgress(im, im.stderr, len(im.file.rows))
	if err := im.resolve(ctx, prog); err != nil {
		return err
	}
	results := make([]rowResult, 0, im.file.total)
	for _, e := range im.file.bad { // --skip-invalid
		msg := e.msg
		if e.where != "" {
			msg = e.where + ": " + e.msg
		}
		if len(results) > 0 && results[len(results)-1].Line == e.line {
			results[len(results)-1].Message += "; " + msg
			continue
		}
		results = append(results, rowResult{Line: e.line, Outcome: outcomeFailed, Code: codeInvalidRow, Message: msg})
	}

	stopProgress := prog.start()
	out := make([]rowResult, len(im.file.rows))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range im.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i] = im.importRow(ctx, im.file.rows[i])
				if out[i].Outcome == outcomeFailed {
					im.failed.Add(1)
				}
			}
		}()
	}
feed:
	for i := range im.file.rows {
		select {
		case jobs <- i:
		case <-ctx.Done():
			for j := i; j < len(out); j++ {
				out[j] = rowResult{Line: im.file.rows[j].line, Outcome: outcomeInterrupted}
			}
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	stopProgress()
	results = append(results, out...)
	sort.SliceStable(results, func(i, j int) bool { return results[i].Line < results[j].Line })

	if im.cfg.report != "" {
		if err := writeReport(im.cfg.report, results); err != nil {
			fmt.Fprintln(im.stderr, "eventops import: report:", err)
		}
	}
	return im.summarize(stdout, results, time.Since(started), ctx.Err() != nil)
}

// resolve finds or creates every venue and ticket type the rows name.
func (im *importer) resolve(ctx context.Context, prog *importProgress) error {
	im.venueIDs, im.venueErr = map[string]uint64{}, map[string]rowResult{}
	im.ttIDs, im.ttErr = map[string]uint64{}, map[string]rowResult{}
	zones, tts := map[string]string{}, map[string]bool{}
	var venueOrder, ttOrder []string
	for _, r := range im.file.rows {
		if _, ok := zones[r.venue]; !ok {
			zones[r.venue] = r.timeZone
			venueOrder = append(venueOrder, r.venue)
		}
		for _, t := range r.ticketTypes {
			if !tts[t] {
				tts[t] = true
				ttOrder = append(ttOrder, t)
			}
		}
	}
	var vFound, vMade, tFound, tMade int
	for _, name := range venueOrder {
		id, made, res, err := im.venue(ctx, name, zones[name])
		if err != nil {
			return err
		}
		switch {
		case res != nil:
			im.venueErr[name] = *res
		case made:
			vMade++
		default:
			vFound++
		}
		im.venueIDs[name] = id
	}
	for _, name := range ttOrder {
		id, made, res, err := im.ticketType(ctx, name)
		if err != nil {
			return err
		}
		switch {
		case res != nil:
			im.ttErr[name] = *res
		case made:
			tMade++
		default:
			tFound++
		}
		im.ttIDs[name] = id
	}
	prog.say(fmt.Sprintf("venues: %d found, %d created; ticket types: %d found, %d created",
		vFound, vMade, tFound, tMade))
	return nil
}

// venue finds a venue by exact name (preferring one in the file's zone) or
// creates it. A failure that concerns only this venue's rows comes back as
// res; err is for failures that stop the import (the context).
func (im *importer) venue(ctx context.Context, name, tz string) (id uint64, made bool, res *rowResult, err error) {
	vs, err := im.c.AllVenues(ctx, name)
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	var other *client.Venue
	for i := range vs {
		if vs[i].Name != name {
			continue
		}
		if vs[i].TimeZone == tz {
			return vs[i].ID, false, nil, nil
		}
		if other == nil {
			other = &vs[i]
		}
	}
	if other != nil {
		return 0, false, &rowResult{Code: codeVenueZone, Message: fmt.Sprintf(
			"venue %q exists (id %d) in time zone %s, the file says %s: fix the file or the venue", name, other.ID, other.TimeZone, tz)}, nil
	}
	cr, err := im.c.CreateVenue(ctx, client.VenueInput{Name: name, TimeZone: tz},
		idempotencyKey(im.cfg.scope, "venue", name+"\x00"+tz))
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	return cr.Resource.ID, !cr.Replayed, nil, nil
}

func (im *importer) ticketType(ctx context.Context, name string) (id uint64, made bool, res *rowResult, err error) {
	ts, err := im.c.AllTicketTypes(ctx, name)
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	for _, t := range ts {
		if t.Name == name {
			return t.ID, false, nil, nil
		}
	}
	cr, err := im.c.CreateTicketType(ctx, client.TicketTypeInput{Name: name},
		idempotencyKey(im.cfg.scope, "ticket_type", name))
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	return cr.Resource.ID, !cr.Replayed, nil, nil
}

// fatalOr sorts an error met while resolving: an interruption, a key the
// server refuses or a server out of reach stops everything; anything else
// (a 422 on one venue, say) fails only the rows concerned, through res.
func (im *importer) fatalOr(ctx context.Context, err error, res **rowResult) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e, ok := client.AsError(err)
	if !ok || e.StatusCode == 401 || e.StatusCode == 403 || e.StatusCode >= 500 || e.StatusCode == 429 {
		return err
	}
	*res = &rowResult{Code: errorCode(err), Message: err.Error()}
	return nil
}

// importRow creates one event and waits for it.
func (im *importer) importRow(ctx context.Context, row *importRow) rowResult {
	res := rowResult{Line: row.line}
	fail := func(code, msg string) rowResult {
		res.Outcome, res.Code, res.Message = outcomeFailed, code, msg
		return res
	}
	if e, ok := im.venueErr[row.venue]; ok {
		return fail(e.Code, e.Message)
	}
	ev := row.event
	ev.VenueID = im.venueIDs[row.venue]
	ev.RegistrationTypes = slices.Clone(ev.RegistrationTypes)
	for i, tt := range row.ticketTypes {
		if e, ok := im.ttErr[tt]; ok {
			return fail(e.Code, e.Message)
		}
		ev.RegistrationTypes[i].TicketTypeID = im.ttIDs[tt]
	}
	cr, err := im.c.CreateEvent(ctx, ev, idempotencyKey(im.cfg.scope, "event", row.key))
	if err != nil {
		if ctx.Err() != nil {
			res.Outcome = outcomeInterrupted
			return res
		}
		return fail(errorCode(err), err.Error())
	}
	im.sent.Add(1)
	res.EventID, res.OperationID = cr.Resource.ID, cr.OperationID
	res.Outcome = outcomeCreated
	if cr.Replayed {
		res.Outcome = outcomePresent
	}
	if cr.OperationID == 0 {
		return fail(codeNoOperation, "the create answered without "+client.HeaderOperationID)
	}
	until := client.Finished
	if im.cfg.wait == "tickets" {
		until = client.PhaseSettled(engine.PhaseTickets)
	}
	wctx, cancel := context.WithTimeout(ctx, im.cfg.waitTimeout)
	defer cancel()
	op, err := im.c.Wait(wctx, cr.Resource.ID, cr.OperationID, until, client.Hold(im.cfg.hold))
	switch {
	case err != nil && ctx.Err() != nil:
		res.Outcome, res.Message = outcomeInterrupted, "created; its operation was not followed to the end"
		return res
	case err != nil && wctx.Err() != nil:
		state := "unknown"
		if op != nil {
			state = op.Status
		}
		return fail(codeWaitTimeout, fmt.Sprintf("operation %d still %s after %s (it goes on on the server)", cr.OperationID, state, im.cfg.waitTimeout))
	case err != nil:
		return fail(errorCode(err), err.Error())
	}
	if op.Status == client.StatusFailed && op.Error != nil {
		return fail(op.Error.Code, opErrorText(op.ID, op.Error))
	}
	if p := op.Phase(engine.PhaseTickets); p != nil && p.Status == client.StatusFailed && p.Error != nil {
		return fail(p.Error.Code, opErrorText(op.ID, p.Error))
	}
	if op.Status == client.StatusFailed {
		return fail("OPERATION_FAILED", fmt.Sprintf("operation %d failed", op.ID))
	}
	im.ready.Add(1)
	return res
}

func opErrorText(opID uint64, e *client.OpError) string {
	s := fmt.Sprintf("operation %d: %s", opID, e.Message)
	if e.Phase != nil {
		s = fmt.Sprintf("operation %d, phase %s: %s", opID, *e.Phase, e.Message)
	}
	return s
}

// errorCode is the code a failed request is counted under: the problem
// type, else the HTTP status, else network_error.
func errorCode(err error) string {
	if e, ok := client.AsError(err); ok {
		if e.Type() != "" {
			return e.Type()
		}
		return "http_" + strconv.Itoa(e.StatusCode)
	}
	return codeNetwork
}

func writeReport(path string, results []rowResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize prints the summary table and returns an error (exit status 1)
// when any row failed or the import was interrupted.
func (im *importer) summarize(w io.Writer, results []rowResult, took time.Duration, interrupted bool) error {
	counts := map[string]int{}
	byCode := map[string][]rowResult{}
	var codes []string
	for _, r := range results {
		counts[r.Outcome]++
		if r.Outcome == outcomeFailed {
			if _, ok := byCode[r.Code]; !ok {
				codes = append(codes, r.Code)
			}
			byCode[r.Code] = append(byCode[r.Code], r)
		}
	}
	sort.Slice(codes, func(i, j int) bool {
		if len(byCode[codes[i]]) != len(byCode[codes[j]]) {
			return len(byCode[codes[i]]) > len(byCode[codes[j]])
		}
		return codes[i] < codes[j]
	})
	done := counts[outcomeCreated] + counts[outcomePresent]
	waited := "its tickets phase"
	if im.cfg.wait == "all" {
		waited = "its operation's end"
	}
	fmt.Fprintf(w, "\nimport of %s: %d rows in %s (%.1f rows/s), each waited for %s\n\n",
		im.name, len(results), took.Round(time.Millisecond), float64(done)/max(took.Seconds(), 0.001), waited)
	width := len(strconv.Itoa(len(results)))
	for _, o := range []string{outcomeCreated, outcomePresent, outcomeFailed, outcomeInterrupted} {
		if o != outcomeInterrupted || counts[o] > 0 {
			fmt.Fprintf(w, "  %-16s %*d\n", o, width, counts[o])
		}
	}
	if n := im.limited.Load(); n > 0 {
		fmt.Fprintf(w, "\n  rate limited: %d answers 429, each waited out (Retry-After) and retried\n", n)
	}
	if len(codes) > 0 {
		fmt.Fprintln(w, "\nfailed rows by code:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range codes {
			lines := make([]int, len(byCode[c]))
			for i, r := range byCode[c] {
				lines[i] = r.Line
			}
			fmt.Fprintf(tw, "  %s\t%d\tlines %s\n", c, len(lines), lineRanges(lines))
		}
		tw.Flush()
		fmt.Fprintln(w)
		const perCode = 10
		for _, c := range codes {
			for i, r := range byCode[c] {
				if i == perCode {
					fmt.Fprintf(w, "  ... and %d more %s\n", len(byCode[c])-perCode, c)
					break
				}
				fmt.Fprintf(w, "  line %d: %s\n", r.Line, r.Message)
			}
		}
	}
	switch {
	case interrupted || counts[outcomeInterrupted] > 0:
		fmt.Fprintln(w, "\ninterrupted: run the same command again to finish; rows already done are not created twice")
		return fmt.Errorf("import interrupted: %d of %d rows not finished", counts[outcomeInterrupted], len(results))
	case counts[outcomeFailed] > 0:
		return fmt.Errorf("%d of %d rows failed", counts[outcomeFailed], len(results))
	}
	return nil
}

// lineRanges writes sorted line numbers compactly: "4, 9, 12-15".
func lineRanges(lines []int) string {
	slices.Sort(lines)
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", lines[i], lines[j]))
		} else {
			parts = append(parts, strconv.Itoa(lines[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
