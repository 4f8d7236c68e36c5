# LIN-SVC-002 remediate: auditd if installed, else a persistent journal.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
if systemctl list-unit-files auditd.service --no-legend 2>/dev/null | grep -q '^auditd.service'; then
  if [ "$(systemctl is-enabled auditd 2>/dev/null)" = masked ]; then
    res not_applicable false '' "auditd is masked: a person must decide"; exit 0
  fi
  systemctl is-active --quiet auditd && { res ok false '' "auditd already active"; exit 0; }
  systemctl enable auditd >/dev/null 2>&1
  systemctl start auditd >/dev/null 2>&1 || { res failed true '' "auditd did not start"; exit 0; }
  res ok true '"enable+start auditd"' ""; exit 0
fi
dropdir=/etc/systemd/journald.conf.d
mkdir -p "$dropdir" 2>/dev/null && [ -w "$dropdir" ] || { res not_applicable false '' "/etc is not writable"; exit 0; }
changed=false
want='# msp-agent LIN-SVC-002 (managed file)
[Journal]
Storage=persistent'
if [ "$(cat "$dropdir/60-msp-agent.conf" 2>/dev/null)" != "$want" ]; then
  printf '%s\n' "$want" > "$dropdir/60-msp-agent.conf" || exit 3; changed=true
fi
if [ ! -d /var/log/journal ]; then mkdir -p /var/log/journal || exit 3; changed=true; fi
systemd-tmpfiles --create --prefix /var/log/journal >/dev/null 2>&1
if [ "$changed" = true ]; then systemctl restart systemd-journald >/dev/null 2>&1 || { res failed true '' "journald restart failed"; exit 0; }; fi
journalctl --flush >/dev/null 2>&1
res ok "$changed" '"journald Storage=persistent","/var/log/journal"' ""
