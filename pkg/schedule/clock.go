package schedule

import "time"

// Clock is the scheduler's source of time; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, like time.AfterFunc.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable, resettable AfterFunc timer (*time.Timer is one).
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// RealClock returns the system clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

var (
	_ Clock = realClock{}
	_ Timer = (*time.Timer)(nil)
)

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
