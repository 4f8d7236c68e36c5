# LIN-LOG-001 remediate: persistent journal always; rsyslog forwarding when a destination is set.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
jd=$(msp_param journal_dir); dd=$(msp_param journald_dropin_dir); rd=$(msp_param rsyslog_dropin_dir)
dest=$(msp_param destination); proto=$(msp_param protocol)
changed=false; acts=""
act() { acts="$acts${acts:+,}\"$1\""; changed=true; }
mkdir -p "$dd" 2>/dev/null && [ -w "$dd" ] || { res not_applicable false '' "$dd is not writable"; exit 0; }
want='# msp-agent LIN-LOG-001 (managed file)
[Journal]
Storage=persistent'
if [ "$(cat "$dd/61-msp-agent-log.conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" > "$dd/61-msp-agent-log.conf" || exit 3; act "journald Storage=persistent"
fi
if [ ! -d "$jd" ]; then mkdir -p "$jd" || exit 3; act "created $jd"; fi
systemd-tmpfiles --create --prefix "$jd" >/dev/null 2>&1
if [ "$changed" = true ]; then
  systemctl restart systemd-journald >/dev/null 2>&1 || { res failed true "$acts" "journald restart failed"; exit 0; }
  journalctl --flush >/dev/null 2>&1
fi
[ -n "$dest" ] || { res not_applicable "$changed" "$acts" "journal persistent; no forwarding destination configured for this site"; exit 0; }
command -v rsyslogd >/dev/null 2>&1 || { res not_applicable "$changed" "$acts" "no rsyslog installed to forward with"; exit 0; }
at='@@'; [ "$proto" = udp ] && at='@'
fwd="# msp-agent LIN-LOG-001 (managed file)
*.* $at$dest"
f="$rd/60-msp-agent-forward.conf"
if [ "$(cat "$f" 2>/dev/null)" != "$fwd" ]; then
  mkdir -p "$rd" && [ -w "$rd" ] || { res not_applicable "$changed" "$acts" "$rd is not writable"; exit 0; }
  old=""; [ -f "$f" ] && old=$(cat "$f")
  printf '%s\n' "$fwd" > "$f" || exit 3
  if ! rsyslogd -N1 >/dev/null 2>&1; then
    if [ -n "$old" ]; then printf '%s\n' "$old" > "$f"; else rm -f -- "$f"; fi
    res failed "$changed" "$acts" "rsyslogd -N1 rejected the forwarding drop-in"; exit 0
  fi
  act "rsyslog forwarding to $dest ($proto)"
  systemctl restart rsyslog >/dev/null 2>&1 || { res failed true "$acts" "rsyslog restart failed"; exit 0; }
fi
res ok "$changed" "$acts" ""
