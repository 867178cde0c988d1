package alert

import (
	"slices"
	"time"
)

// BatchWindow is how close deadlines must be to "fall together" (README,
// "Incidents and notifications"): when the earliest deadline of a
// notifier's batchable rows arrives, every batchable row of that notifier
// due within BatchWindow after now goes in the same message. Sending those a few minutes early never breaks a
// within promise (it is an upper bound), and five minutes merges the
// incidents of one outage, which open minutes apart, without pulling an
// hour-deadline P3 row into a P2 message.
const BatchWindow = 5 * time.Minute

// Pending is an outbox row as Batch sees it.
type Pending struct {
	ID        int64
	Notifier  string
	DueAt     time.Time
	Batchable bool
}

// Batch decides which pending rows to send at now, as messages: each inner
// slice is one message to one notifier. A notifier's batchable rows are sent
// together once the earliest of them is due, with every other batchable row
// of that notifier due before now + BatchWindow; a non-batchable row (within
// 0s) is sent alone as soon as it is due. next is the earliest due time of
// the rows left (zero when none), for the dispatcher to sleep until.
// Messages come ordered by notifier, rows by deadline then id.
func Batch(pending []Pending, now time.Time) (send [][]Pending, next time.Time) {
	rows := slices.Clone(pending)
	slices.SortFunc(rows, func(a, b Pending) int {
		if a.Notifier != b.Notifier {
			if a.Notifier < b.Notifier {
				return -1
			}
			return 1
		}
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	cutoff := now.Add(BatchWindow)
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n].Notifier == rows[0].Notifier {
			n++
		}
		group := rows[:n]
		rows = rows[n:]

		var earliest time.Time // of the group's batchable rows
		for _, r := range group {
			switch {
			case r.Batchable:
				if earliest.IsZero() {
					earliest = r.DueAt // rows are sorted by deadline
				}
			case r.DueAt.After(now):
				later(r.DueAt)
			default:
				send = append(send, []Pending{r})
			}
		}
		if earliest.IsZero() {
			continue
		}
		if earliest.After(now) {
			later(earliest)
			continue
		}
		var batch []Pending
		for _, r := range group {
			switch {
			case !r.Batchable:
			case r.DueAt.Before(cutoff):
				batch = append(batch, r)
			default:
				later(r.DueAt)
			}
		}
		send = append(send, batch)
	}
	return send, next
}
