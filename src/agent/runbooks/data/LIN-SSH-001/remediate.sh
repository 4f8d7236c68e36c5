# LIN-SSH-001 remediate: managed block at the top of sshd_config; never cut the agent's own login.
cfg=$(msp_param config); auth=$(msp_param mgmt_auth); transport=$(msp_param mgmt_transport)
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
case "$cfg" in */sshd_config) ;; *) res failed false '' "not an sshd_config path"; exit 0 ;; esac
[ -f "$cfg" ] || { res not_applicable false '' "no sshd_config at the given path"; exit 0; }
sshd_bin=$(command -v sshd || ls /usr/sbin/sshd 2>/dev/null)
[ -n "$sshd_bin" ] || { res not_applicable false '' "sshd not installed: cannot validate a change"; exit 0; }
# The agent logs in as root when it is root without sudo (the runbook itself runs as root).
agent_root=false; [ "$transport" = ssh ] && [ -z "${SUDO_USER:-}" ] && [ "$(id -u)" = 0 ] && agent_root=true
if [ "$agent_root" = true ] && [ "$auth" = password ]; then
  res not_applicable false '' "the agent logs in as root with a password: root password login must stay"; exit 0
fi
keep_pw=false; [ "$transport" = ssh ] && [ "$auth" = password ] && keep_pw=true
tmp="$cfg.msp-new.$$"
{
  echo "# BEGIN msp-agent LIN-SSH-001 (managed; first value wins)"
  echo "PermitRootLogin prohibit-password"
  [ "$keep_pw" = true ] || echo "PasswordAuthentication no"
  echo "# END msp-agent LIN-SSH-001"
  sed '/^# BEGIN msp-agent LIN-SSH-001/,/^# END msp-agent LIN-SSH-001/d' "$cfg"
} > "$tmp" || { rm -f "$tmp"; exit 3; }
chmod --reference="$cfg" "$tmp" 2>/dev/null; chown --reference="$cfg" "$tmp" 2>/dev/null
if ! "$sshd_bin" -t -f "$tmp" >/dev/null 2>&1; then
  rm -f "$tmp"; res failed false '' "candidate configuration rejected by sshd -t: original kept"; exit 0
fi
changed=true; cmp -s "$tmp" "$cfg" && changed=false
if [ "$changed" = true ]; then mv -f "$tmp" "$cfg" || { rm -f "$tmp"; exit 3; }; else rm -f "$tmp"; fi
reloaded=none
if [ "$changed" = true ]; then
  if [ "$cfg" = /etc/ssh/sshd_config ]; then
    if systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || service ssh reload 2>/dev/null \
       || service sshd reload 2>/dev/null; then reloaded=service
    elif [ -r /run/sshd.pid ] && kill -HUP "$(cat /run/sshd.pid)" 2>/dev/null; then reloaded=pid; fi
  else
    # Only an sshd started with this exact file (-f <cfg>) is reloaded.
    for p in $(ps -eo pid=,args= | awk -v c="$cfg" '$2 ~ /sshd$/ { for (i=3;i<=NF;i++) if ($i=="-f" && $(i+1)==c) print $1 }'); do
      kill -HUP "$p" 2>/dev/null && reloaded=pid
    done
  fi
fi
why="reload: $reloaded"; [ "$keep_pw" = true ] && why="$why; password authentication kept: the agent logs in with a password"
if [ "$keep_pw" = true ] && [ "$(awk 'tolower($1)=="match"{exit} tolower($1)=="passwordauthentication"{print tolower($2); exit}' "$cfg")" != no ]; then
  res not_applicable "$changed" '"PermitRootLogin prohibit-password"' "$why"; exit 0
fi
res ok "$changed" '"PermitRootLogin prohibit-password","PasswordAuthentication no"' "$why"
