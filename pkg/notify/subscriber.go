package notify

import (
	"strconv"
	"strings"
)

// Events of the outbox rows to status-page subscribers (channel
// "subscriber/ID", see SubscriberChannel). Their Item carries an update as
// Incident.ID (0 for a maintenance announcement), Incident.Status (the
// update's status), Incident.Message (the update's message), Check.Name
// (the incident's check) and At; Incident.Key is "update-ID".
const (
	EventSubscriberConfirm = "subscriber_confirm" // the double opt-in mail
	EventSubscriberUpdate  = "subscriber_update"  // a public incident update
)

// SubscriberPrefix starts the outbox channel of a subscriber. On its own
// it names them all (the outbox notification of a fan-out); no configured
// notifier's name has a '/'.
const SubscriberPrefix = "subscriber/"

// SubscriberChannel is the outbox channel of subscriber id.
func SubscriberChannel(id int64) string { return SubscriberPrefix + strconv.FormatInt(id, 10) }

// SubscriberID returns the subscriber of channel name, if it is one.
func SubscriberID(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, SubscriberPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || rest != strconv.FormatInt(id, 10) {
		return 0, false
	}
	return id, true
}
