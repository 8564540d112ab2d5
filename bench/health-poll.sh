# Shared by bench/startup.sh and bench/startup-variants.sh (sourced, not run): polls the health
# port without starting a process per attempt (curl and sleep every 5 ms would take a good share of
# a core from the JVM being measured): bash's /dev/tcp for the HTTP request, and a read with a
# timeout on an idle FIFO for the pause. The caller sets port.
# shellcheck shell=bash disable=SC2154  # port: set by the caller

fifo=$(mktemp -u)
mkfifo "$fifo"
exec 4<>"$fifo"
rm "$fifo"

# True once GET / on the health port answers 200.
healthy() {
  local status
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -rt 5 -u 3 status || status=
  exec 3<&-
  [[ $status == *" 200 "* ]]
}

# Sleeps 5 ms without starting a process.
pause() {
  read -rt 0.005 -u 4 || true
}
