#!/bin/sh
# Set-up of a btn-node image from its boot partition, as root, before btn-node.service, at every
# boot: a household that edits btn-node.txt on another computer and restarts the device gets
# the new settings. The default hostname btn-<id> is set on the first boot only, HOSTNAME at every boot.
# Reads KEY=VALUE lines from btn-node.txt on the boot partition: ROOT_URL, ROOT_PUBLIC_KEY,
# BROKER_URL, NETWORK, BOARD, DEVNET (and btn-node-broker-ca.pem beside it), WIFI_COUNTRY,
# WIFI_SSID, WIFI_PASSWORD, HOSTNAME, UPDATE_HEALTH_SECONDS. A wrong value or an unknown key is named on the console and
# in /etc/btn-node/setup-problems, which the agent shows on its status page. With a root, the
# network's terms (params, clerks' keys, committee, genesis) come from the root's signed manifest;
# only an unprovisioned devnet takes the clerks' keys and genesis from files on the boot partition.
set -eu
# >>> test root: every path read or written is under BTN_ROOT (empty on a device), so the tests run
# this script as an ordinary user against a temporary tree; owners and live changes (hostname,
# systemctl) are left out there.
R="${BTN_ROOT:-}"
LC_ALL=C
export LC_ALL
if [ -z "$R" ]; then own_opt="-o root -g btn-node" grp_opt="-g btn-node"; else own_opt="" grp_opt=""; fi
problems=""
# A wrong value is said on the console and kept for the status page; never the value of a secret.
problem() { echo "btn-node firstboot: $*" >&2; problems="$problems$*
"; }
# <<< test root
conf=""
for f in "$R/boot/firmware/btn-node.txt" "$R/boot/btn-node.txt"; do
  # >>> FAT rewrite recovery: a power cut inside the rename of a rewritten btn-node.txt can leave
  # only the synced new copy beside it.
  [ ! -e "$f" ] && [ -s "$f.new" ] && mv -f "$f.new" "$f"
  # <<< FAT rewrite recovery
  [ -r "$f" ] && conf="$f" && break
done

if [ ! -e "$R/var/lib/btn-node-firstboot.done" ]; then
  # Hostname: btn-<first 8 hex of the machine id>, unique per device, stable across reboots.
  id=$(cut -c1-8 "$R/etc/machine-id" 2>/dev/null || echo 00000000)
  echo "btn-$id" > "$R/etc/hostname"
  [ -n "$R" ] || hostname "btn-$id" 2>/dev/null || true
fi

image_board=$(tr -cd 'a-z0-9_-' < "$R/usr/lib/btn-node/image-board" 2>/dev/null || true)
root_url="" root_key="" broker="mqtt://10.0.2.2:1883" board="${image_board:-qemu-x86_64}" devnet="" network=""
# >>> Wi-Fi and hostname settings (set = the key was there, even empty)
wifi_country="" wifi_ssid="" wifi_password="" wifi_password_set="" new_hostname="" hostname_set=""
# <<< Wi-Fi and hostname settings
health_seconds="" health_seconds_set=""

if [ -n "$conf" ]; then
  # The value is everything after the first '=': read with IFS='=' would drop a trailing '='
  # (base64-like passphrases end in one). A UTF-8 byte order mark (Windows editors) is dropped.
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    key=${line%%=*}
    case "$line" in *=*) value=${line#*=} ;; *) value="" ;; esac
    case "$key" in
      ''|\#*) ;;
      ROOT_URL) root_url=$(printf %s "$value" | tr -cd 'A-Za-z0-9:/._-') ;;
      ROOT_PUBLIC_KEY) root_key=$(printf %s "$value" | tr 'A-F' 'a-f' | tr -cd '0-9a-f') ;;
      BROKER_URL) broker=$(printf %s "$value" | tr -cd 'A-Za-z0-9:/._-') ;;
      BOARD) board=$(printf %s "$value" | tr -cd 'a-z0-9_-') ;;
      NETWORK) network=$(printf %s "$value" | tr -cd 'A-Za-z0-9._-' | cut -c1-64) ;;
      DEVNET) devnet=$(printf %s "$value" | tr -cd 'a-z') ;;
      # >>> Wi-Fi and hostname keys: taken verbatim here (an SSID may hold spaces), checked below.
      WIFI_COUNTRY) wifi_country=$value ;;
      WIFI_SSID) wifi_ssid=$value ;;
      WIFI_PASSWORD) wifi_password=$value wifi_password_set=1 ;;
      HOSTNAME) new_hostname=$value hostname_set=1 ;;
      # <<< Wi-Fi and hostname keys
      UPDATE_HEALTH_SECONDS) health_seconds=$value health_seconds_set=1 ;;
      # >>> unknown keys: named only when the text looks like a key, never a line that may hold a
      # passphrase typed without its '=' ("WIFI_PASSWORD: ..." or the passphrase alone).
      *)
        case "$line" in
          *=*) case "$key" in
                 *[!A-Za-z0-9_]*) problem "line $n is not KEY=VALUE (the key has characters other than letters, digits and _), ignored" ;;
                 *) problem "unknown key '$(printf %s "$key" | cut -c1-40)' in btn-node.txt, ignored (a typing error?)" ;;
               esac ;;
          *) problem "line $n is not KEY=VALUE and not a # comment, ignored" ;;
        esac ;;
      # <<< unknown keys
    esac
  done <<CONF
$(tr -d '\r' < "$conf" | head -c 65536 | sed "1s/^$(printf '\357\273\277')//")
CONF
fi

install -d -m 0750 $own_opt "$R/etc/btn-node"
# The primary nodes' (clerks') public keys and the genesis hash of the network, if shipped there.
bootdir=$(dirname "${conf:-$R/boot/btn-node.txt}")
[ -r "$bootdir/btn-node-primaries.pem" ] && install -m 0640 $grp_opt "$bootdir/btn-node-primaries.pem" "$R/etc/btn-node/primaries.pem"
[ -r "$bootdir/btn-node-genesis.hex" ] && install -m 0640 $grp_opt "$bootdir/btn-node-genesis.hex" "$R/etc/btn-node/genesis.hex"
# The network broker's CA (mqtts://): pinned, the system's CAs are not used for the broker. The
# node's broker account arrives at activation, through its TPM; nothing secret is on this partition.
broker_ca=""
if [ -r "$bootdir/btn-node-broker-ca.pem" ]; then
  install -m 0640 $grp_opt "$bootdir/btn-node-broker-ca.pem" "$R/etc/btn-node/broker-ca.pem"
  case "$broker" in
    mqtts://*) broker_ca=', "brokerCa": "/etc/btn-node/broker-ca.pem"' ;;
    *) problem "btn-node-broker-ca.pem is only used with an mqtts:// BROKER_URL" ;;
  esac
fi
# Only 64 hex digits go into the JSON (the file may carry CRLF or junk from a FAT partition).
genesis=$(tr -cd '0-9a-f' 2>/dev/null < "$R/etc/btn-node/genesis.hex" || true)
[ ${#genesis} -eq 64 ] || genesis=$(printf '%064d' 0)
pinned="\"primaries\": \"/etc/btn-node/primaries.pem\", \"genesis\": { \"hash\": \"$genesis\", \"height\": 0 },"
if [ -n "$root_url" ] && [ ${#root_key} -eq 64 ]; then
  if [ -z "$network" ]; then
    network=mainnet
    echo "btn-node firstboot: no NETWORK in btn-node.txt; using '$network'" >&2
  fi
  terms="\"network\": \"$network\","
  root=", \"root\": { \"url\": \"$root_url\", \"publicKey\": \"$root_key\" }"
elif [ "$devnet" = "true" ]; then
  terms="\"network\": \"${network:-devnet}\", $pinned"
  root=', "devnetActive": true'
else
  terms="\"network\": \"${network:-devnet}\", $pinned"
  root=""
  echo "btn-node firstboot: no ROOT_URL/ROOT_PUBLIC_KEY in btn-node.txt; the node will not seal until configured" >&2
fi
# Written beside and renamed: a power cut leaves the old config or the new one, never half of one.
cat > "$R/etc/btn-node/config.json.new" <<JSON
{ "tcti": "device:/dev/tpmrm0", "broker": "$broker"$broker_ca, "stateDir": "/var/lib/btn-node",
  $terms
  "board": "/usr/lib/btn-node/boards/$board.json", "status": { "port": 80 }$root }
JSON
[ -n "$R" ] || chgrp btn-node "$R/etc/btn-node/config.json.new"
chmod 0640 "$R/etc/btn-node/config.json.new"
sync
mv -f "$R/etc/btn-node/config.json.new" "$R/etc/btn-node/config.json"
# >>> the data partition takes the rest of the card: the image is small to flash, a card is much
# larger, and the data partition (last on the disk) holds the state and downloaded updates. At
# every boot: a no-op once grown, and it grows again after the image is cloned onto a larger card.
if [ -z "$R" ]; then
  data_dev=$(findmnt -no SOURCE /data 2>/dev/null || true)
  data_disk=$(lsblk -no PKNAME "$data_dev" 2>/dev/null | head -n 1)
  data_part=$(cat "/sys/class/block/$(basename "${data_dev:-none}")/partition" 2>/dev/null || true)
  # A logical data partition (the Pi's A/B disk: 7, inside the extended 4) grows only once its container has.
  case "$data_part" in [5-9]) [ -z "$data_disk" ] || growpart "/dev/$data_disk" 4 >/dev/null 2>&1 || true ;; esac
  if [ -n "$data_disk" ] && [ -n "$data_part" ] && growpart "/dev/$data_disk" "$data_part" >/dev/null 2>&1; then
    if resize2fs "$data_dev" >/dev/null 2>&1; then
      echo "btn-node firstboot: the data partition now fills the disk ($(df -h --output=size /data | tail -n 1 | tr -d ' '))"
    else
      problem "the data partition was extended but its file system could not be grown (resize2fs $data_dev)"
    fi
  fi
fi
# <<< the data partition takes the rest of the card
# >>> how long a newly updated slot has to become healthy before it is rolled back
# (btn-node-health.service reads the file; without it the default of `btn-node update check-health`).
health_env="$R/etc/btn-node/update-health.env"
if [ -n "$health_seconds_set" ]; then
  case "$health_seconds" in
    ''|*[!0-9]*|0*) ok="" ;;
    *) ok=1 ;;
  esac
  if [ -n "$ok" ] && [ ${#health_seconds} -le 4 ] && [ "$health_seconds" -ge 30 ] && [ "$health_seconds" -le 3600 ]; then
    printf 'BTN_UPDATE_HEALTH_SECONDS=%s\n' "$health_seconds" > "$health_env.new"
    chmod 0644 "$health_env.new"
    sync
    mv -f "$health_env.new" "$health_env"
  else
    problem "UPDATE_HEALTH_SECONDS: '$(printf %s "$health_seconds" | tr -cd 'A-Za-z0-9. -' | cut -c1-20)' is not whole seconds in 30..3600; keeping the default"
    rm -f "$health_env"
  fi
else
  rm -f "$health_env"
fi
# <<< update health deadline
# >>> network settings (Wi-Fi, hostname) and the set-up problems for the status page
. "$(dirname "$0")/firstboot-network.sh"
[ -z "$root_key" ] || [ ${#root_key} -eq 64 ] || problem "ROOT_PUBLIC_KEY has ${#root_key} hex digits, not 64"
if [ -n "$problems" ]; then
  printf %s "$problems" > "$R/etc/btn-node/setup-problems.new"
  [ -n "$R" ] || chgrp btn-node "$R/etc/btn-node/setup-problems.new"
  chmod 0640 "$R/etc/btn-node/setup-problems.new"
  sync
  mv -f "$R/etc/btn-node/setup-problems.new" "$R/etc/btn-node/setup-problems"
else
  rm -f "$R/etc/btn-node/setup-problems"
fi
# <<< network settings
touch "$R/var/lib/btn-node-firstboot.done"
