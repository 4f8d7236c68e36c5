# LIN-BACKUP-001 remediate: start the backup unit (a oneshot start waits for the run to finish).
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
u=$(msp_param job_name)
systemctl list-unit-files "$u" --no-legend 2>/dev/null | grep -q "^$u" || { res not_applicable false '' "$u is not installed"; exit 0; }
[ "$(systemctl is-enabled "$u" 2>/dev/null)" = masked ] && { res not_applicable false '' "$u is masked: a person must decide"; exit 0; }
systemctl start "$u" >/dev/null 2>&1 || { res failed true "\"systemctl start $u\"" "$u did not complete successfully"; exit 0; }
res ok true "\"systemctl start $u\"" ""
