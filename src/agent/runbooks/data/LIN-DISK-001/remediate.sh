# LIN-DISK-001 remediate: bounded cleanups on the one filesystem mounted at `mount`.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
mnt=$(msp_param mount)
mountof() { df -P "$1" 2>/dev/null | awk 'NR==2{print $6}'; }
usage() { df -P "$mnt" 2>/dev/null | awk 'NR==2{gsub("%","",$5); print $5}'; }
[ -d "$mnt" ] && [ "$(mountof "$mnt")" = "$mnt" ] || { res not_applicable false '' "$mnt is not a mount point"; exit 0; }
onfs() { [ -d "$1" ] && [ ! -L "$1" ] && [ "$(mountof "$1")" = "$mnt" ]; }
days() { _v=$(msp_param "$1"); case "$_v" in ''|*[!0-9]*) _v=$2 ;; esac; [ "$_v" -ge 1 ] || _v=1; printf '%s' "$_v"; }
tage=$(days tmp_age_days 10); lage=$(days log_age_days 14); nkeep=$(days nix_keep_days 30); jmb=$(days journal_max_mb 256)
before=$(usage); acts=""; changed=false
act() { acts="$acts${acts:+,}\"$1\""; changed=true; }
if command -v journalctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && onfs /var/log/journal; then
  journalctl --vacuum-size="${jmb}M" >/dev/null 2>&1 && act "journal vacuum to ${jmb}M"
fi
for d in $(msp_param log_dirs); do
  [ "$d" != / ] && onfs "$d" || continue
  n=$(find "$d" -xdev -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.bz2' -o -name '*.zst' \) \
      -mtime +"$lage" -print -delete 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] && act "deleted $n rotated logs under $d"
done
for d in $(msp_param tmp_dirs); do
  [ "$d" != / ] && onfs "$d" || continue
  n=$(find "$d" -xdev -mindepth 1 -type f -mtime +"$tage" -atime +"$tage" -print -delete 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] && act "deleted $n temp files under $d"
done
if command -v nix-collect-garbage >/dev/null 2>&1 && onfs /nix/store; then
  nix-collect-garbage --delete-older-than "${nkeep}d" >/dev/null 2>&1 && act "nix generations older than ${nkeep}d collected"
fi
sync
res ok "$changed" "$acts" "use ${before}% -> $(usage)%"
