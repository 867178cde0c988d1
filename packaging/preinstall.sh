#!/bin/sh
# Create the pulse system user and group before the files are unpacked.
set -e
if ! getent group pulse >/dev/null 2>&1; then
  groupadd --system pulse 2>/dev/null || addgroup --system pulse
fi
if ! getent passwd pulse >/dev/null 2>&1; then
  useradd --system --gid pulse --home-dir /var/lib/pulse --no-create-home \
    --shell /usr/sbin/nologin --comment "pulse monitoring agent" pulse 2>/dev/null ||
    adduser --system --ingroup pulse --home /var/lib/pulse --no-create-home --shell /usr/sbin/nologin pulse
fi
exit 0
