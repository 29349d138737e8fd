# /etc/cron.d/senko - senkod from cron instead of the systemd service (see
# senkod(8)).  Disabled: remove the '#' below, and do not also enable
# senkod.service.  It runs as user senko, in /var/lib/senko, like the unit.
#*/5 * * * *  senko  /usr/sbin/senkod --once -q
