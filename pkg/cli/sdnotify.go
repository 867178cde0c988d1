package cli

import (
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"
)

// sdNotifier sends sd_notify states to systemd when NOTIFY_SOCKET is set.
func sdNotifier(log *slog.Logger) func(string) {
	return func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Debug("sd_notify failed", "state", state, "err", err)
		}
	}
}
