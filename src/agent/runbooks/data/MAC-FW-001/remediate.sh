# MAC-FW-001 remediate: socketfilterfw --setglobalstate on (idempotent).
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
command -v socketfilterfw >/dev/null 2>&1 || { res not_applicable false '' "socketfilterfw not found: not a macOS host"; exit 0; }
st() { socketfilterfw --getglobalstate 2>&1 | sed -n 's/.*(State = \([0-9]\)).*/\1/p' | head -n 1; }
case "$(st)" in 1|2) res ok false '' "already on"; exit 0 ;; esac
socketfilterfw --setglobalstate on >/dev/null 2>&1 || { res failed false '' "socketfilterfw --setglobalstate on failed"; exit 0; }
res ok true '"socketfilterfw --setglobalstate on"' ""
