#!/bin/sh
# Tell systemd about the unit; enable nothing without the operator asking.
set -e
chgrp pulse /etc/pulse/pulse.toml 2>/dev/null || true
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
echo "pulse installed. Edit /etc/pulse/pulse.toml, run 'pulse --config /etc/pulse/pulse.toml validate', then 'systemctl enable --now pulse'."
exit 0
