# LIN-PATCH-001 remediate: enable the installed automatic-update mechanism.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
[ -d /run/systemd/system ] || { res not_applicable false '' "not a systemd host"; exit 0; }
has_unit() { systemctl list-unit-files "$1" --no-legend 2>/dev/null | grep -q "^$1"; }
enable_now() {
  [ "$(systemctl is-enabled "$1" 2>/dev/null)" = masked ] && { res not_applicable false '' "$1 is masked: a person must decide"; exit 0; }
  systemctl is-enabled --quiet "$1" 2>/dev/null && systemctl is-active --quiet "$1" 2>/dev/null && return 0
  systemctl enable --now "$1" >/dev/null 2>&1 || { res failed "$changed" '' "$1 could not be enabled"; exit 0; }
  changed=true
}
changed=false
if command -v unattended-upgrade >/dev/null 2>&1 && has_unit apt-daily-upgrade.timer; then
  f=/etc/apt/apt.conf.d/52msp-agent-auto-upgrades
  want='// msp-agent LIN-PATCH-001 (managed file)
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";'
  if [ "$(cat "$f" 2>/dev/null)" != "$want" ]; then
    [ -w /etc/apt/apt.conf.d ] || { res not_applicable false '' "/etc/apt/apt.conf.d is not writable"; exit 0; }
    printf '%s\n' "$want" > "$f" || exit 3; changed=true
  fi
  enable_now apt-daily.timer; enable_now apt-daily-upgrade.timer
  res ok "$changed" '"apt unattended-upgrades enabled","apt-daily-upgrade.timer"' ""; exit 0
fi
if has_unit dnf-automatic-install.timer; then
  enable_now dnf-automatic-install.timer
  res ok "$changed" '"dnf-automatic-install.timer"' ""; exit 0
fi
res not_applicable false '' "no automatic-update tool installed (unattended-upgrades, dnf-automatic)"
