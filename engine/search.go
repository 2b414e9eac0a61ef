package engine

import "strings"

// searchScanBudget bounds what SearchEvents reads, in pages of a short
// read transaction each (never one long one).
const searchScanBudget = 20000

// SearchEvents finds live top-level events of any company whose name or
// slug contains text (case-insensitive), at most limit of them, for
// staff. It scans each company's events by id, newest companies' first,
// reading at most 20,000 events; partial reports that the budget ran out
// before every event was read.
func (e *Engine) SearchEvents(text string, limit int) (found []*Event, partial bool, err error) {
	needle := strings.ToLower(strings.TrimSpace(text))
	if needle == "" || limit <= 0 {
		return nil, false, nil
	}
	cs, err := e.Companies()
	if err != nil {
		return nil, false, err
	}
	scanned := 0
	for i := len(cs) - 1; i >= 0; i-- {
		q := EventQuery{CompanyID: cs[i].ID, Sort: SortID, Desc: true, Limit: 100}
		for {
			evs, next, err := e.Events(q)
			if err != nil {
				return found, partial, err
			}
			for _, ev := range evs {
				scanned++
				if ev.ParentID == 0 && (strings.Contains(strings.ToLower(ev.Name), needle) || strings.Contains(strings.ToLower(ev.Slug), needle)) {
					found = append(found, ev)
					if len(found) == limit {
						return found, true, nil
					}
				}
			}
			if next == "" {
				break
			}
			if scanned >= searchScanBudget {
				return found, true, nil
			}
			q.Cursor = next
		}
	}
	return found, false, nil
}
